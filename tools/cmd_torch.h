// tools/cmd_torch.h — `raoq import-torch` (a PyTorch state_dict in safetensors as a run whose
// full-precision stage is finished) and `raoq export-torch` (a run's checkpoint under PyTorch's
// names). The name tables and the run directory are library code (tools/pipeline/torch_names.h,
// tools/pipeline/torch_import.h); this file only handles arguments and prints.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace raoq::tools {

struct ImportTorchArgs {
  std::string file;    // the PyTorch state_dict, as safetensors
  std::string model;   // a registry name, or a JSON model description {"name": ..., options...}
  std::string config;  // "": a config with one fp stage and the model family's usual data
  std::string map;     // "": the default names only
  std::string out;     // the run directory to write
  bool overwrite = false;
};
int import_torch_command(const ImportTorchArgs& args, std::ostream& out);

struct ExportTorchArgs {
  std::string run;         // a run directory
  std::string checkpoint;  // "": the run's last finished stage
  std::string map;
  std::string out;  // the .safetensors file to write
};
int export_torch_command(const ExportTorchArgs& args, std::ostream& out);

// `raoq import-torch ARGS...` / `raoq export-torch ARGS...` (the words after the command).
int import_torch_cli(const std::vector<std::string>& args, std::ostream& out);
int export_torch_cli(const std::vector<std::string>& args, std::ostream& out);

}  // namespace raoq::tools
