#include "bert_embed/pipeline/bounded_queue.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "expect_error.h"

namespace bert_embed {
namespace {

using namespace std::chrono_literals;

// Long enough for a thread that is not blocked to have pushed.
constexpr auto kSettle = 100ms;

TEST(BoundedQueue, CapacityBlocksTheProducerUntilAPop) {
  BoundedQueue<int> queue(2);
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int item = 0; item < 3; ++item) {
      queue.push(item);
      ++pushed;
    }
    queue.finish(nullptr);
  });
  std::this_thread::sleep_for(kSettle);
  EXPECT_EQ(pushed.load(), 2);
  EXPECT_EQ(queue.pop(), 0);
  EXPECT_EQ(queue.pop(), 1);
  EXPECT_EQ(queue.pop(), 2);
  EXPECT_EQ(queue.pop(), std::nullopt);
  producer.join();
  EXPECT_EQ(pushed.load(), 3);
}

TEST(BoundedQueue, CloseMakesABlockedPushReturnFalse) {
  BoundedQueue<int> queue(1);
  ASSERT_TRUE(queue.push(1));
  std::atomic<bool> returned{false};
  bool accepted = true;
  std::thread producer([&] {
    accepted = queue.push(2);
    returned = true;
  });
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(returned.load());
  queue.close();
  producer.join();
  EXPECT_FALSE(accepted);
  EXPECT_FALSE(queue.push(3));
}

TEST(BoundedQueue, FinishWithoutErrorEndsAfterTheItems) {
  BoundedQueue<int> queue(4);
  queue.push(7);
  queue.push(8);
  queue.finish(nullptr);
  EXPECT_EQ(queue.pop(), 7);
  EXPECT_EQ(queue.pop(), 8);
  EXPECT_EQ(queue.pop(), std::nullopt);
  EXPECT_EQ(queue.pop(), std::nullopt);
}

// The header's contract: the producer's error reaches the consumer at once,
// ahead of items still queued, so that a bad line stops the run.
TEST(BoundedQueue, FinishWithErrorIsRethrownByPop) {
  BoundedQueue<int> queue(4);
  queue.push(1);
  queue.finish(std::make_exception_ptr(std::runtime_error("input.txt:3: bad line")));
  EXPECT_EQ(test::error_message<std::runtime_error>([&] { queue.pop(); }), "input.txt:3: bad line");
  EXPECT_EQ(test::error_message<std::runtime_error>([&] { queue.pop(); }), "input.txt:3: bad line");
}

TEST(BoundedQueue, FinishWakesABlockedPop) {
  BoundedQueue<int> queue(1);
  std::thread consumer([&] { EXPECT_EQ(queue.pop(), std::nullopt); });
  std::this_thread::sleep_for(kSettle);
  queue.finish(nullptr);
  consumer.join();
}

}  // namespace
}  // namespace bert_embed
