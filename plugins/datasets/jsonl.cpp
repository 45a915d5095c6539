// JSON lines: one JSON object a line; a named string field of each is a document.
#include "core/base/error.h"
#include "plugins/datasets/json_lines.h"
#include "plugins/datasets/text_dataset.h"

namespace kiln::datasets {
namespace {

const char* json_type(const rapidjson::Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return "a number";
  }
  return "?";
}

}  // namespace

std::vector<TextDataset::Document> jsonl_documents(std::string_view content,
                                                   const std::string& file,
                                                   const std::string& field,
                                                   const std::string& where) {
  std::vector<TextDataset::Document> docs;
  for_each_json_line(content, file, where, [&](const rapidjson::Document& d,
                                               const std::string& at, int64_t line_no) {
    KILN_CHECK(d.IsObject(), at, "the record is ", json_type(d), ", expected an object with a \"",
               field, "\" field");
    auto it = d.FindMember(rapidjson::Value(field.data(), rapidjson::SizeType(field.size())));
    if (it == d.MemberEnd()) {
      std::string keys;
      for (auto m = d.MemberBegin(); m != d.MemberEnd(); ++m)
        keys += (keys.empty() ? "\"" : ", \"") +
                std::string(m->name.GetString(), m->name.GetStringLength()) + "\"";
      KILN_FAIL(at, "no field \"", field, "\" (the record has ", keys.empty() ? "no fields" : keys,
                ")");
    }
    KILN_CHECK(it->value.IsString(), at, "field \"", field, "\" is ", json_type(it->value),
               ", expected a string");
    std::string text(it->value.GetString(), it->value.GetStringLength());
    if (!text.empty()) docs.push_back({std::move(text), str_cat(file, ":", line_no)});
  });
  return docs;
}

}  // namespace kiln::datasets
