// layers/module.cpp — registration, traversal, modes, state dicts and printing of Module.
#include "layers/module.h"

#include <algorithm>
#include <ostream>
#include <sstream>
#include <unordered_map>

#include "core/json_fields.h"
#include "core/autograd.h"

namespace raoq {

namespace {
std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
}  // namespace

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}

Module::~Module() = default;

Tensor Module::forward(const Tensor& x) {
  RAOQ_CHECK(false, label(),
             ": this module takes no single tensor input (given ", x.defined() ? shape_str(x.shape()) : "undefined",
             "); call its own forward overload");
  return Tensor();
}

void Module::check_new_name(const char* what, const std::string& name) const {
  RAOQ_CHECK(!name.empty(), what, ": empty name in ", type_name_, "; give every parameter, buffer and child a name");
  RAOQ_CHECK(name.find('.') == std::string::npos, what, ": name '", name,
             "' must not contain '.'; register a child module instead and let paths join with '.'");
  const auto has = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& e) { return e.first == name; });
  };
  const char* existing = has(parameters_) ? "a parameter" : has(buffers_) ? "a buffer" : has(children_) ? "a child module" : nullptr;
  RAOQ_CHECK(existing == nullptr, what, ": '", name, "' is already registered in ", type_name_, " as ", existing,
             "; choose another name");
}

Tensor Module::register_parameter(std::string name, Tensor t) {
  check_new_name("register_parameter", name);
  RAOQ_CHECK(t.defined(), "register_parameter: tensor for '", name, "' in ", type_name_,
             " is undefined; skip the registration for an absent parameter");
  RAOQ_CHECK(t.is_leaf(), "register_parameter: '", name, "' in ", type_name_, " was produced by '",
             t.grad_fn()->op, "'; register a leaf (detach() or clone() it first)");
  t.set_requires_grad(true);
  t.set_name(join(path_, name));
  parameters_.emplace_back(std::move(name), t);
  return t;
}

Tensor Module::register_buffer(std::string name, Tensor t) {
  check_new_name("register_buffer", name);
  RAOQ_CHECK(t.defined(), "register_buffer: tensor for '", name, "' in ", type_name_, " is undefined");
  RAOQ_CHECK(!t.requires_grad(), "register_buffer: '", name, "' in ", type_name_,
             " requires grad; buffers are not trained (use register_parameter)");
  t.set_name(join(path_, name));
  buffers_.emplace_back(std::move(name), t);
  return t;
}

void Module::add_child(std::string name, std::shared_ptr<Module> child, FieldSetter setter) {
  check_new_name("register_module", name);
  RAOQ_CHECK(child != nullptr, "register_module: child '", name, "' of ", type_name_, " is null");
  RAOQ_CHECK(child.get() != this, "register_module: ", type_name_, " cannot be its own child '", name, "'");
  child->set_path(join(path_, name));
  child_slots_.push_back({name, std::move(setter)});
  children_.emplace_back(std::move(name), std::move(child));
}

void Module::set_path(const std::string& path) {
  path_ = path;
  for (auto& [name, t] : parameters_) t.set_name(join(path_, name));
  for (auto& [name, t] : buffers_) t.set_name(join(path_, name));
  for (auto& [name, child] : children_) child->set_path(join(path_, name));
}

std::shared_ptr<Module> Module::submodule(const std::string& path) {
  if (path.empty()) return named_modules().front().second;
  Module* parent = this;
  std::shared_ptr<Module> found;
  size_t begin = 0;
  while (true) {
    const size_t dot = path.find('.', begin);
    const std::string part = path.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
    auto it = std::find_if(parent->children_.begin(), parent->children_.end(),
                           [&](const auto& c) { return c.first == part; });
    RAOQ_CHECK(it != parent->children_.end(), "submodule: '", path, "': ", parent->label(), " has no child '", part, "'");
    found = it->second;
    if (dot == std::string::npos) return found;
    parent = found.get();
    begin = dot + 1;
  }
}

std::shared_ptr<Module> Module::replace_module(const std::string& path, std::shared_ptr<Module> replacement) {
  RAOQ_CHECK(!path.empty(), "replace_module: empty path; name the child to replace (e.g. 'layer1.0.conv1')");
  RAOQ_CHECK(replacement != nullptr, "replace_module: replacement for '", path, "' is null");
  const size_t dot = path.rfind('.');
  const std::shared_ptr<Module> parent_handle = dot == std::string::npos ? nullptr : submodule(path.substr(0, dot));
  Module& parent = parent_handle ? *parent_handle : *this;
  const std::string name = dot == std::string::npos ? path : path.substr(dot + 1);
  size_t i = 0;
  while (i < parent.children_.size() && parent.children_[i].first != name) ++i;
  RAOQ_CHECK(i < parent.children_.size(), "replace_module: ", parent.type_name_, " has no child '", name,
             "' (path '", path, "')");
  std::shared_ptr<Module> old = parent.children_[i].second;
  const FieldSetter& setter = parent.child_slots_[i].setter;
  if (setter) {
    RAOQ_CHECK(setter(replacement), "replace_module: '", path, "' is held in a typed field of ", parent.type_name_,
               " that cannot hold a ", replacement->type_name(), "; the replacement must derive from the field's type (",
               old->type_name(), " or its base)");
  } else {
    RAOQ_CHECK(parent.children_read_by_name_, "replace_module: '", path, "' was registered in ", parent.type_name_,
               " without its field, so the field would keep the old ", old->type_name(),
               "; register it as register_module(\"", name, "\", field, child)");
  }
  parent.children_[i].second = replacement;
  replacement->set_path(join(parent.path_, name));
  replacement->train(parent.training_);
  return old;
}

std::shared_ptr<Module> Module::unregister_module(const std::string& name) {
  size_t i = 0;
  while (i < children_.size() && children_[i].first != name) ++i;
  RAOQ_CHECK(i < children_.size(), "unregister_module: ", label(), " has no child '", name, "'");
  std::shared_ptr<Module> old = children_[i].second;
  children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
  child_slots_.erase(child_slots_.begin() + static_cast<std::ptrdiff_t>(i));
  old->set_path("");
  return old;
}

void Module::collect(const std::string& prefix, NamedTensors* params, NamedTensors* buffers) const {
  if (params)
    for (const auto& [name, t] : parameters_) params->emplace_back(join(prefix, name), t);
  if (buffers)
    for (const auto& [name, t] : buffers_) buffers->emplace_back(join(prefix, name), t);
  for (const auto& [name, child] : children_) child->collect(join(prefix, name), params, buffers);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", &out, nullptr);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", nullptr, &out);
  return out;
}

NamedModules Module::named_children() const { return children_; }

NamedModules Module::named_modules() {
  std::shared_ptr<Module> self = weak_from_this().lock();
  // Not owned by a shared_ptr (e.g. on the stack): a non-owning aliasing handle.
  if (!self) self = std::shared_ptr<Module>(std::shared_ptr<Module>(), this);
  NamedModules out{{"", self}};
  for (const auto& [name, child] : children_)
    for (auto& [sub, m] : child->named_modules()) out.emplace_back(sub.empty() ? name : name + "." + sub, std::move(m));
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

int64_t Module::num_trainable_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters())
    if (t.requires_grad()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (auto& [name, t] : named_parameters()) {
    if (set_to_none)
      t.set_grad(Tensor());
    else
      t.zero_grad();
  }
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", &out, &out);
  return out;
}

void Module::load_state_dict(const NamedTensors& entries, bool strict) {
  std::unordered_map<std::string, const Tensor*> given;
  for (const auto& [key, t] : entries) {
    RAOQ_CHECK(given.emplace(key, &t).second, "load_state_dict: key '", printable(key), "' appears twice in the entries");
    RAOQ_CHECK(t.defined(), "load_state_dict: entry '", printable(key), "' is an undefined tensor");
  }
  const NamedTensors own = state_dict();
  std::vector<std::pair<Tensor, const Tensor*>> copies;
  for (const auto& [key, dst] : own) {
    auto it = given.find(key);
    if (it == given.end()) {
      RAOQ_CHECK(!strict, "load_state_dict: missing key '", key, "' (model shape ", shape_str(dst.shape()),
                 ") in ", type_name_, "; pass strict=false to load a partial state");
      continue;
    }
    const Tensor& src = *it->second;
    RAOQ_CHECK(src.shape() == dst.shape(), "load_state_dict: '", key, "' has shape ", shape_str(src.shape()),
               " in the entries but ", shape_str(dst.shape()), " in the model");
    copies.emplace_back(dst, &src);
    given.erase(it);
  }
  if (strict && !given.empty()) {
    // Name the first unexpected key in the order the entries were given.
    for (const auto& [key, t] : entries)
      RAOQ_CHECK(!given.count(key), "load_state_dict: unexpected key '", printable(key), "' (shape ", shape_str(t.shape()),
                 ") not in ", type_name_, "; pass strict=false to ignore extra entries");
  }
  for (auto& [dst, src] : copies) dst.copy_from(*src);
}

namespace {
thread_local ShapeProbe* active_probe = nullptr;
}  // namespace

ShapeProbe::ShapeProbe() {
  RAOQ_CHECK(active_probe == nullptr, "ShapeProbe: a probe is already active on this thread");
  active_probe = this;
}
ShapeProbe::~ShapeProbe() { active_probe = nullptr; }

Tensor Module::named_output(Tensor y, const Tensor& x) const {
  if (!path_.empty() && y.defined() && !y.is_same(x)) y.set_name(path_ + ":out");
  if (active_probe && y.defined() && !y.is_same(x))  // an identity (eval-mode dropout) costs nothing
    active_probe->records_.push_back({this, path_, x.defined() ? x.shape() : Shape{}, y.shape()});
  return y;
}

namespace {
std::string count_str(const Module& m) {
  const int64_t total = m.num_parameters(), trainable = m.num_trainable_parameters();
  if (total == 0) return "";
  std::ostringstream os;
  os << "  # " << total << " params";
  if (trainable != total) os << " (" << trainable << " trainable)";
  return os.str();
}
}  // namespace

std::ostream& operator<<(std::ostream& os, const Module& m) {
  // The tensors this module owns directly, with shapes: "weight [8, 2], bias [8]".
  std::ostringstream own;
  for (const auto& [name, t] : m.parameters_)
    own << (own.tellp() > 0 ? ", " : "") << name << ' ' << shape_str(t.shape()) << (t.requires_grad() ? "" : " (frozen)");
  for (const auto& [name, t] : m.buffers_)
    own << (own.tellp() > 0 ? ", " : "") << name << ' ' << shape_str(t.shape()) << " (buffer)";
  const std::string owned = own.str();
  if (m.children_.empty()) {
    os << m.type_name_ << '(' << m.extra_repr() << ')' << (owned.empty() ? "" : "  " + owned) << count_str(m);
    return os;
  }
  // Children print at one more indent level: indent every line of the child's text.
  const auto indented = [](const std::string& text) {
    std::string out;
    for (char c : text) {
      out += c;
      if (c == '\n') out += "  ";
    }
    return out;
  };
  os << m.type_name_ << '(' << count_str(m) << '\n';
  if (!m.extra_repr().empty()) os << "  " << m.extra_repr() << '\n';
  if (!owned.empty()) os << "  " << owned << '\n';
  for (const auto& [name, child] : m.children_) {
    std::ostringstream sub;
    sub << *child;
    os << "  (" << name << "): " << indented(sub.str()) << '\n';
  }
  os << ')';
  return os;
}

}  // namespace raoq
