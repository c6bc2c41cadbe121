#include "npy_reader.h"

#include <cstring>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <string>

namespace bert_embed::test {

NpyArray read_npy(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + file.string());
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
    throw std::runtime_error(file.string() + ": not an NPY file");
  }
  std::uint32_t header_len = 0;
  if (magic[6] == 1) {
    unsigned char len[2];
    in.read(reinterpret_cast<char*>(len), 2);
    header_len = len[0] | (len[1] << 8);
  } else {
    unsigned char len[4];
    in.read(reinterpret_cast<char*>(len), 4);
    header_len = len[0] | (len[1] << 8) | (len[2] << 16) | (static_cast<std::uint32_t>(len[3]) << 24);
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (header.find("'fortran_order': False") == std::string::npos) {
    throw std::runtime_error(file.string() + ": Fortran order is not supported");
  }
  std::smatch descr;
  if (!std::regex_search(header, descr, std::regex("'descr': '([^']+)'"))) {
    throw std::runtime_error(file.string() + ": no descr in header");
  }
  std::smatch shape_match;
  if (!std::regex_search(header, shape_match, std::regex("'shape': \\(([^)]*)\\)"))) {
    throw std::runtime_error(file.string() + ": no shape in header");
  }
  NpyArray array;
  std::int64_t count = 1;
  const std::string dims = shape_match[1];
  const std::regex number("\\d+");  // a regex_iterator must not outlive its regex
  std::sregex_iterator it(dims.begin(), dims.end(), number), end;
  for (; it != end; ++it) {
    array.shape.push_back(std::stoll(it->str()));
    count *= array.shape.back();
  }
  if (descr[1] == "<f4") {
    array.f32.resize(count);
    in.read(reinterpret_cast<char*>(array.f32.data()), count * 4);
  } else if (descr[1] == "<i8") {
    array.i64.resize(count);
    in.read(reinterpret_cast<char*>(array.i64.data()), count * 8);
  } else {
    throw std::runtime_error(file.string() + ": unsupported dtype " + descr[1].str());
  }
  if (!in) throw std::runtime_error(file.string() + ": truncated data");
  return array;
}

}  // namespace bert_embed::test
