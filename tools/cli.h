// tools/cli.h — the raoq command line: argument parsing, help, and dispatch to the commands.
//
//   raoq train CONFIG.json [--out DIR] [--set key.path=value ...] [--resume] [--quick] [--threads N]
//   raoq eval RUN_DIR | CONFIG.json --checkpoint FILE
//   raoq inspect RUN_DIR [--cost] [--png DIR]        raoq generate RUN_DIR --prompt TEXT
//   raoq sweep RUN_DIR --grid KEY=V1,V2,...           raoq export RUN_DIR --out DIR
//   raoq run-export DIR [--compare CHECKPOINT]        raoq models [NAME]
//   raoq help [train|eval|models|config]
//
// run_command_line returns the exit status and throws raoq::Error for every user error; main()
// prints that as the single line "raoq: <message>" and exits non-zero.
#pragma once

#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace raoq::tools {

int run_command_line(const std::vector<std::string>& args, std::ostream& out);

// ---- the parser, exposed for tests
struct OptionSpec {
  std::string name;        // "--out"
  std::string value_name;  // "DIR"; empty for a flag
  std::string help;
  bool repeatable = false;
};

struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;  // flags map to {""}
  bool help = false;

  bool has(const std::string& name) const { return values.count(name) != 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  const std::vector<std::string>& all(const std::string& name) const;
};

// Parses `args` (after the command name). Errors name the command: "train: unknown option
// --otu (did you mean --out?)". Accepts "--opt value" and "--opt=value"; "--" ends options.
ParsedArgs parse_args(const std::string& command, const std::vector<OptionSpec>& specs,
                      const std::vector<std::string>& args);

// The options as `raoq CMD --help` lists them (with --help), wrapped at 100 columns.
std::string options_text(const std::vector<OptionSpec>& specs);

// --threads N (0 when absent), capped at 4096.
int threads_option(const std::string& command, const ParsedArgs& parsed);

// A positive integer option (--threads, --batch-size) or the fallback when absent.
int64_t positive_option(const std::string& command, const ParsedArgs& parsed, const std::string& name,
                        int64_t fallback);

}  // namespace raoq::tools
