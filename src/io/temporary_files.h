// Temporaries: the files an OutputFile writes before renaming them onto their
// targets. A process-wide list of those that exist lets an interrupted run
// remove them (install_interrupt_cleanup); their names,
// ".<target>.tmp-<host>-<pid>-XXXXXX", let a later run for the same target
// remove those that a killed process (SIGKILL, a crash) left behind.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <mutex>

namespace bert_embed::temporaries {

// Held while a temporary is created, renamed or removed, so that the
// interrupt cleanup never runs halfway through: a temporary is listed exactly
// while it exists. Recursive, so that a set of outputs commits under one hold.
std::unique_lock<std::recursive_mutex> hold();

struct Created {
  std::filesystem::path path;
  int fd = -1;  // open for writing; the caller closes it
};

// Creates a fresh temporary beside `target` (O_EXCL, mode 0666 minus the
// umask) and lists it. Throws std::system_error.
Created create(const std::filesystem::path& target);

// Renames a listed temporary onto `target` and unlists it. Throws
// std::system_error; the temporary stays listed then.
void rename_onto(const std::filesystem::path& temporary, const std::filesystem::path& target);

// Unlinks a listed temporary and unlists it; errors are ignored (the caller is
// already giving up on it).
void remove(const std::filesystem::path& temporary) noexcept;

// Removes the temporaries of `target` whose process, on this host, has ended.
// Those of live processes, of other hosts and of this process are kept.
void remove_stale(const std::filesystem::path& target);

}  // namespace bert_embed::temporaries
