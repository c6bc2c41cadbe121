#include "bert_embed/model/module_check.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/frontend/lexer.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/import_source.h>

#include "model/export_command.h"
#include "model/torch_error.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;
using caffe2::serialize::PyTorchStreamReader;

// Every operator kind that scripts/export_model.py's modules use, dumped from
// model.pt and model.int8.pt of the five test bundles and of a bert-base
// bundle (graphs are the same whatever dtype the encoder casts to), and of a bundle with the exporter's "relu"
// hidden_act (aten::relu, aten::relu_), and of the RoBERTa, XLM-RoBERTa, MPNet
// and XLNet test bundles (aten::cumsum and aten::ne: RoBERTa's positions;
// aten::unsqueeze: MPNet's position bias; aten::matmul: XLNet's relative
// attention). Nothing here touches files,
// processes, the network or Python.
constexpr std::string_view kAllowedOperators[] = {
    "aten::__contains__", "aten::__getitem__", "aten::__isnot__", "aten::_set_item", "aten::add",
    "aten::append", "aten::baddbmm", "aten::bmm", "aten::contiguous", "aten::cumsum", "aten::embedding",
    "aten::eq", "aten::expand", "aten::format", "aten::ge", "aten::gelu",
    "aten::gt", "aten::layer_norm", "aten::len", "aten::linear", "aten::lt",
    "aten::masked_fill", "aten::matmul", "aten::mul", "aten::nan_to_num", "aten::ne", "aten::neg", "aten::permute",
    "aten::relu", "aten::relu_", "aten::reshape", "aten::select", "aten::size", "aten::slice",
    "aten::softmax", "aten::stack", "aten::sub", "aten::tanh", "aten::to",
    "aten::transpose", "aten::unsqueeze", "aten::view", "aten::zeros", "prim::CallFunction", "prim::CallMethod",
    "prim::Constant", "prim::DictConstruct", "prim::GetAttr", "prim::If", "prim::ListConstruct",
    "prim::Loop", "prim::RaiseException", "prim::SetAttr", "prim::TupleConstruct", "prim::Uninitialized",
    "prim::device", "prim::dtype", "prim::max", "prim::min", "prim::unchecked_cast",
    "quantized::linear_dynamic", "quantized::linear_dynamic_fp16", "quantized::linear_prepack",
    "quantized::linear_prepack_fp16", "quantized::linear_unpack", "quantized::linear_unpack_fp16",
};

bool is_allowed(std::string_view kind) {
  return std::find(std::begin(kAllowedOperators), std::end(kAllowedOperators), kind) != std::end(kAllowedOperators);
}

constexpr std::string_view kCodePrefix = "code/";
constexpr std::string_view kSourceSuffix = ".py";

bool is_source_record(const std::string& name) {
  return name.size() > kCodePrefix.size() + kSourceSuffix.size() && name.compare(0, kCodePrefix.size(), kCodePrefix) == 0 &&
         name.compare(name.size() - kSourceSuffix.size(), kSourceSuffix.size(), kSourceSuffix) == 0;
}

// "code/__torch__/torch/nn/modules/linear.py" <-> "__torch__.torch.nn.modules.linear", as
// libtorch's importer maps them.
std::string qualifier_of(const std::string& record) {
  std::string qualifier =
      record.substr(kCodePrefix.size(), record.size() - kCodePrefix.size() - kSourceSuffix.size());
  std::replace(qualifier.begin(), qualifier.end(), '/', '.');
  return qualifier;
}

std::string record_of(const std::string& qualifier) {
  std::string path = qualifier;
  std::replace(path.begin(), path.end(), '.', '/');
  return std::string(kCodePrefix) + path + std::string(kSourceSuffix);
}

std::shared_ptr<torch::jit::Source> read_source(PyTorchStreamReader& reader, const std::string& record) {
  const auto [data, size] = reader.getRecord(record);
  return std::make_shared<torch::jit::Source>(
      c10::string_view(static_cast<const char*>(data.get()), size), record, /*starting_line_no=*/1);
}

// The classes a source file defines at its top level, found with TorchScript's
// own lexer so that no spelling the importer accepts is missed.
std::vector<std::string> top_level_classes(const std::shared_ptr<torch::jit::Source>& source) {
  std::vector<std::string> names;
  torch::jit::Lexer lexer(source);
  int depth = 0;
  while (lexer.cur().kind != torch::jit::TK_EOF) {
    const torch::jit::Token token = lexer.next();
    if (token.kind == torch::jit::TK_INDENT) ++depth;
    if (token.kind == torch::jit::TK_DEDENT) --depth;
    if (token.kind == torch::jit::TK_CLASS_DEF && depth == 0 && lexer.cur().kind == torch::jit::TK_IDENT) {
      names.push_back(lexer.cur().text());
    }
  }
  return names;
}

// An encoder's constants are tensors; objects in them would run __setstate__.
std::vector<c10::IValue> read_constants(PyTorchStreamReader& reader) {
  const auto refuse_classes = [](const c10::QualifiedName& name) -> c10::StrongTypePtr {
    throw std::runtime_error("constants.pkl holds an object of class " + name.qualifiedName());
  };
  const c10::IValue constants = torch::jit::readArchiveAndTensors(
      "constants", "", "", refuse_classes, c10::nullopt, c10::Device(c10::kCPU), reader);
  const auto& elements = constants.toTupleRef().elements();
  return std::vector<c10::IValue>(elements.begin(), elements.end());
}

class OperatorCollector {
 public:
  void add_class(const c10::ClassType& type) {
    for (torch::jit::Function* method : type.methods()) add_function(*method);
    for (const c10::ClassType::Property& property : type.properties()) {
      add_function(*property.getter);
      if (property.setter != nullptr) add_function(*property.setter);
    }
  }

  std::set<std::string> take() { return std::move(operators_); }

 private:
  void add_function(torch::jit::Function& function) {
    if (!visited_.insert(&function).second || !function.isGraphFunction()) return;
    add_block(*torch::jit::toGraphFunction(function).graph()->block());
  }

  void add_block(const torch::jit::Block& block) {
    for (const torch::jit::Node* node : block.nodes()) {
      operators_.insert(node->kind().toQualString());
      for (const torch::jit::Block* nested : node->blocks()) add_block(*nested);
      if (node->kind() == c10::prim::CallFunction) {
        add_function(*node->input(0)->type()->expectRef<c10::FunctionType>().function());
      } else if (node->kind() == c10::prim::CallMethod) {
        add_method_call(*node);
      }
    }
  }

  // Methods of TorchScript classes are collected with their class; a method
  // of a class built into libtorch (torch.classes.*) is native code, named as
  // an operator of its own so that the allow-list decides.
  void add_method_call(const torch::jit::Node& node) {
    const auto type = node.input(0)->type()->cast<c10::ClassType>();
    if (type == nullptr) return;
    const std::string method = node.s(c10::attr::name);
    torch::jit::Function* function = type->findMethod(method);
    if (function == nullptr || !function->isGraphFunction()) {
      operators_.insert(type->name()->qualifiedName() + "::" + method);
    } else {
      add_function(*function);
    }
  }

  std::set<std::string> operators_;
  std::unordered_set<const torch::jit::Function*> visited_;
};

}  // namespace

std::set<std::string> module_operators(const fs::path& file) {
  try {
    PyTorchStreamReader reader(file.string());
    if (reader.hasRecord("model.json")) {
      throw std::runtime_error("legacy TorchScript format (model.json), which bert-embed does not load");
    }
    const std::vector<c10::IValue> constants = read_constants(reader);
    const auto unit = std::make_shared<torch::jit::CompilationUnit>();
    const torch::jit::SourceImporter importer(
        unit, &constants,
        [&reader](const std::string& qualifier) -> std::shared_ptr<torch::jit::Source> {
          const std::string record = record_of(qualifier);
          return reader.hasRecord(record) ? read_source(reader, record) : nullptr;
        },
        reader.version());

    OperatorCollector collector;
    for (const std::string& record : reader.getAllRecords()) {
      if (!is_source_record(record)) continue;
      for (const std::string& name : top_level_classes(read_source(reader, record))) {
        const c10::TypePtr type = importer.loadType(c10::QualifiedName(qualifier_of(record), name));
        if (const auto class_type = type->cast<c10::ClassType>()) collector.add_class(*class_type);
      }
    }
    return collector.take();
  } catch (const std::exception& error) {
    throw std::runtime_error(file.string() + ": not a loadable TorchScript module (" + torch_error_summary(error) +
                             "); re-export the bundle with " + std::string(kExportUsage));
  }
}

void check_module_operators(const fs::path& file) {
  for (const std::string& kind : module_operators(file)) {
    if (!is_allowed(kind)) {
      throw std::runtime_error(file.string() + " uses operator " + kind +
                               ", which no bert-embed encoder needs: refusing to run it (a bundle is code: "
                               "use bundles from a trusted export)");
    }
  }
}

}  // namespace bert_embed
