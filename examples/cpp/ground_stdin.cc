// Grounds Term IDs read from stdin against an index file saved by Python (grlm.Grounder.save)
// and prints one JSON line per Term ID: {"line":N,"hit":...,"items":[...],"scores":[...]}.
//
//   ground_stdin INDEX_FILE [K] < queries.txt
//
// A query line is "a, b, c" or "[a, b, c]"; blank lines are skipped. Scores are printed with 17
// significant digits, so they read back as exactly the doubles the core computed. Exit codes:
// 0 all grounded, 1 some line was refused (reported on stderr), 2 usage or unreadable index.
#include <grlm/error.h>
#include <grlm/grounder.h>
#include <grlm/index_file.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::string_view Trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> ParseTermId(std::string_view line) {
  line = Trim(line);
  if (!line.empty() && line.front() == '[') line.remove_prefix(1);
  if (!line.empty() && line.back() == ']') line.remove_suffix(1);
  std::vector<std::string_view> terms;
  for (std::size_t begin = 0;;) {
    const std::size_t comma = line.find(',', begin);
    terms.push_back(Trim(line.substr(begin, comma - begin)));
    if (comma == std::string_view::npos) return terms;
    begin = comma + 1;
  }
}

// A JSON string as Python's json.dumps(s, ensure_ascii=False) writes it (UTF-8 kept as is).
std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out += escaped;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

const char* HitName(grlm::HitType hit) {
  switch (hit) {
    case grlm::HitType::kDirect:
      return "direct";
    case grlm::HitType::kStructural:
      return "structural";
    default:
      return "none";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: ground_stdin INDEX_FILE [K] < queries\n";
    return 2;
  }
  const int k = argc == 3 ? std::atoi(argv[2]) : 10;
  if (k < 1) {
    std::cerr << "ground_stdin: K must be a positive integer, got '" << argv[2] << "'\n";
    return 2;
  }
  try {
    const grlm::Grounder grounder = grlm::LoadIndex(argv[1]);
    int status = 0;
    std::string line;
    for (long number = 1; std::getline(std::cin, line); ++number) {
      if (Trim(line).empty()) continue;
      try {
        const auto terms = ParseTermId(line);
        const grlm::GroundResult result = grounder.Ground(terms, k);
        std::string out = "{\"line\":" + std::to_string(number) + ",\"hit\":\"" +
                          HitName(result.hit) + "\",\"items\":[";
        for (std::size_t i = 0; i < result.items.size(); ++i) {
          if (i) out += ",";
          out += JsonString(grounder.catalog().ItemId(result.items[i]));
        }
        out += "],\"scores\":[";
        for (std::size_t i = 0; i < result.scores.size(); ++i) {
          char score[32];
          std::snprintf(score, sizeof(score), "%.17g", result.scores[i]);
          out += (i ? "," : "") + std::string(score);
        }
        std::cout << out << "]}\n";
      } catch (const grlm::InvalidArgument& e) {
        std::cerr << "ground_stdin: line " << number << ": " << e.what() << "\n";
        status = 1;
      }
    }
    return status;
  } catch (const grlm::Error& e) {  // the index file: missing, damaged, another version
    std::cerr << "ground_stdin: " << e.what() << "\n";
    return 2;
  }
}
