// configs/models/*.json as server/synthetic_config.h reads them: every shipped shape parses into
// the published sizes, and a malformed file is refused with the file and field named.
#include "server/synthetic_config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace gs {
namespace {

const std::string kDir = GS_SOURCE_DIR "/configs/models/";

TEST(SyntheticConfigTest, ShippedShapesParse) {
  struct Want {
    const char* file;
    int32_t num_layers, hidden, ffn_hidden, num_heads, num_kv_heads, head_dim, window;
    float attn_scale, rope_freq_scale;
  } wants[] = {
      {"gemma3-270m.json", 18, 640, 2048, 4, 1, 256, 512, 1.0f / 16, 1.0f},
      {"gemma3-1b.json", 26, 1152, 6912, 4, 1, 256, 512, 1.0f / 16, 1.0f},
      {"gemma3-4b.json", 34, 2560, 10240, 8, 4, 256, 1024, 1.0f / 16, 0.125f},
      {"gemma3-12b.json", 48, 3840, 15360, 16, 8, 256, 1024, 1.0f / 16, 0.125f},
      {"gemma3-27b.json", 62, 5376, 21504, 32, 16, 128, 1024, 1.0f / std::sqrt(168.0f), 0.125f},
  };
  for (const Want& w : wants) {
    SCOPED_TRACE(w.file);
    StatusOr<SyntheticShape> s = LoadSyntheticShape(kDir + w.file);
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_EQ(s->num_layers, w.num_layers);
    EXPECT_EQ(s->hidden, w.hidden);
    EXPECT_EQ(s->ffn_hidden, w.ffn_hidden);
    EXPECT_EQ(s->num_heads, w.num_heads);
    EXPECT_EQ(s->num_kv_heads, w.num_kv_heads);
    EXPECT_EQ(s->head_dim, w.head_dim);
    EXPECT_EQ(s->num_vocab, 262144);
    EXPECT_EQ(s->sliding_window, w.window);
    EXPECT_TRUE(s->tied_embedding);
    StatusOr<ModelConfig> c = SyntheticModelConfig(*s);
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_FLOAT_EQ(c->attn_scale, w.attn_scale);
    EXPECT_FLOAT_EQ(c->embed_scale, std::sqrt(static_cast<float>(w.hidden)));
    for (int32_t i = 0; i < c->num_layers; ++i) {
      const bool global = i % 6 == 5;
      EXPECT_EQ(c->layers[i].kind == AttentionKind::kGlobal, global) << "layer " << i;
      EXPECT_FLOAT_EQ(c->layers[i].rope.base, global ? 1e6f : 1e4f);
      EXPECT_FLOAT_EQ(c->layers[i].rope.freq_scale, global ? w.rope_freq_scale : 1.0f);
    }
  }
}

TEST(SyntheticConfigTest, BadFilesNameTheProblem) {
  const std::string base =
      R"("num_layers": 2, "hidden": 64, "ffn_hidden": 128, "num_heads": 2, "num_kv_heads": 1,
         "head_dim": 32, "num_vocab": 100)";
  auto error = [](const std::string& text) {
    StatusOr<SyntheticShape> s = ParseSyntheticShape(text, "x.json");
    EXPECT_FALSE(s.ok()) << text;
    return s.ok() ? std::string() : s.status().message();
  };
  EXPECT_TRUE(ParseSyntheticShape("{" + base + R"(, "context_length": 128})", "x.json").ok());
  EXPECT_EQ(error("{" + base + "}"), "x.json: missing required field 'context_length'");
  EXPECT_EQ(error("{" + base + R"(, "context_length": "128"})"),
            "x.json: 'context_length' must be an integer");
  EXPECT_EQ(error("{" + base + R"(, "context_length": 128, "hiden": 1})"),
            "x.json: unknown field 'hiden'");
  EXPECT_EQ(error("{" + base + R"(, "context_length": 128, "architecture": "llama"})"),
            "x.json: architecture 'llama' has no synthetic model (supported: gemma3, gemma4)");
  EXPECT_EQ(error("{" + base + R"(, "context_length": 128, "ple_dim": 16})"),
            "x.json: Gemma 4's fields need architecture gemma4");
  EXPECT_EQ(error("{" + base + R"(, "context_length": 128, "k_eq_v_global": "yes"})"),
            "x.json: 'k_eq_v_global' must be a bool");
  EXPECT_EQ(error("{" + base + R"(, "context_length": 128, "tied_embedding": 1})"),
            "x.json: 'tied_embedding' must be a bool");
  EXPECT_NE(error("{" + base + R"(, "context_length": 128, "num_kv_heads": 3})")
                .find("num_heads must be a multiple of num_kv_heads"),
            std::string::npos);
  EXPECT_EQ(error("{" + base), "x.json: not valid JSON");
  EXPECT_EQ(error("[1, 2]"), "x.json: expected a JSON object");
  EXPECT_NE(LoadSyntheticShape("/nonexistent/shape.json").status().message().find("cannot read"),
            std::string::npos);
}

// The Gemma 4 family as the GGUF metadata describes it: per-layer head dims,
// KV heads, K=V, KV sharing, double-wide MLPs, per-layer embeddings and experts, read back
// through ModelConfig::FromGguf.
TEST(SyntheticConfigTest, ShippedGemma4ShapesParse) {
  struct Want {
    const char* file;
    int32_t num_layers, hidden, period, window;
    int32_t kv_heads_sliding, kv_heads_global;
    bool k_eq_v;
    int32_t num_shared, ple_dim, num_experts;
    size_t num_kv_groups;
  } wants[] = {
      {"gemma4-e2b.json", 35, 1536, 5, 512, 1, 1, false, 20, 256, 0, 2},
      {"gemma4-e4b.json", 42, 2560, 6, 512, 2, 2, false, 18, 256, 0, 2},
      {"gemma4-12b-unified.json", 48, 3840, 6, 1024, 8, 4, true, 0, 0, 0, 2},
      {"gemma4-26b-a4b.json", 30, 2816, 6, 1024, 8, 2, true, 0, 0, 128, 2},
      {"gemma4-31b.json", 60, 5376, 6, 1024, 16, 4, true, 0, 0, 0, 2},
  };
  for (const Want& w : wants) {
    SCOPED_TRACE(w.file);
    StatusOr<SyntheticShape> s = LoadSyntheticShape(kDir + w.file);
    ASSERT_TRUE(s.ok()) << s.status().message();
    StatusOr<ModelConfig> c = SyntheticModelConfig(*s);
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(c->architecture, "gemma4");
    EXPECT_EQ(c->num_layers, w.num_layers);
    EXPECT_EQ(c->hidden, w.hidden);
    EXPECT_EQ(c->num_vocab, 262144);
    EXPECT_EQ(c->attn_scale, 1.0f);
    EXPECT_EQ(c->final_softcap, 30.0f);
    EXPECT_EQ(c->ple_dim, w.ple_dim);
    EXPECT_EQ(c->num_experts, w.num_experts);
    EXPECT_EQ(c->kv_groups.size(), w.num_kv_groups);
    const int32_t first_shared = w.num_layers - w.num_shared;
    for (int32_t i = 0; i < c->num_layers; ++i) {
      SCOPED_TRACE(i);
      const LayerConfig& l = c->layers[i];
      const bool global = i % w.period == w.period - 1 || i == w.num_layers - 1;
      EXPECT_EQ(l.kind == AttentionKind::kGlobal, global);
      EXPECT_EQ(l.window, global ? 0 : w.window);
      EXPECT_EQ(l.head_dim, global ? 512 : 256);
      EXPECT_EQ(l.num_kv_heads, global ? w.kv_heads_global : w.kv_heads_sliding);
      EXPECT_EQ(l.rope.n_rot, l.head_dim);
      EXPECT_EQ(l.rope.uses_freq_factors, global);
      EXPECT_EQ(l.k_eq_v, global && w.k_eq_v);
      EXPECT_EQ(l.kv_layer < i, i >= first_shared);
    }
  }
}

TEST(SyntheticConfigTest, NameDefaultsToTheFileStem) {
  StatusOr<SyntheticShape> s = LoadSyntheticShape(kDir + "gemma3-1b.json");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->name, "gemma3-1b");
}

}  // namespace
}  // namespace gs
