#include "engine/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gemm_cuda.h"
#include "kernels/cuda/matvec_cuda.h"
#include "kernels/cuda/moe_cuda.h"
#include "kernels/cuda/ops_cuda.h"
#include "kernels/cuda/sampling_cuda.h"
#include "kernels/ref/quant_ref.h"

namespace gs {
namespace {

constexpr size_t kArenaChunkBytes = size_t{256} << 20;
constexpr size_t kAlign = 256;  // every device sub-allocation starts on 256 bytes

size_t AlignUp(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

// Device memory handed out by bumping a pointer through fixed chunks; chunks never move, so a
// pointer stays valid until Reset. Used for the step's activations.
class DeviceArena {
 public:
  ~DeviceArena() {
    for (void* chunk : chunks_) cudaFree(chunk);
  }
  void* Alloc(size_t num_bytes) {
    num_bytes = AlignUp(std::max<size_t>(num_bytes, 1));
    while (chunk_idx_ < chunks_.size() && used_ + num_bytes > sizes_[chunk_idx_]) {
      ++chunk_idx_;
      used_ = 0;
    }
    if (chunk_idx_ == chunks_.size()) {
      const size_t size = std::max(num_bytes, kArenaChunkBytes);
      void* chunk = nullptr;
      GS_CUDA_CHECK(cudaMalloc(&chunk, size));
      chunks_.push_back(chunk);
      sizes_.push_back(size);
      used_ = 0;
    }
    void* p = static_cast<uint8_t*>(chunks_[chunk_idx_]) + used_;
    used_ += num_bytes;
    return p;
  }
  void Reset() {
    chunk_idx_ = 0;
    used_ = 0;
  }

 private:
  std::vector<void*> chunks_;
  std::vector<size_t> sizes_;
  size_t chunk_idx_ = 0, used_ = 0;
};

// The step's index arrays, packed into one pinned host buffer and sent with one copy; device
// pointers into the mirror stay valid for the step. Appends past the first copy (rare) get
// their own copy.
class BatchStaging {
 public:
  ~BatchStaging() {
    if (host_) cudaFreeHost(host_);
    if (device_) cudaFree(device_);
  }
  // Only between steps (the stream is idle): grows both buffers to hold num_bytes. True when
  // they moved (graphs that copy from the old buffer are then stale).
  bool Reserve(size_t num_bytes) {
    if (num_bytes <= capacity_) return false;
    if (host_) GS_CUDA_CHECK(cudaFreeHost(host_));
    if (device_) GS_CUDA_CHECK(cudaFree(device_));
    capacity_ = std::max(num_bytes, capacity_ * 2);
    GS_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&host_), capacity_));
    GS_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&device_), capacity_));
    return true;
  }
  void Reset() { used_ = sent_ = 0; }
  // Copies n elements into the host buffer and returns where they will be on the device.
  template <typename T>
  const T* Add(const T* data, size_t n) {
    const size_t offset = used_;
    const size_t num_bytes = AlignUp(n * sizeof(T));
    GS_CHECK(offset + num_bytes <= capacity_);
    if (n > 0) std::memcpy(host_ + offset, data, n * sizeof(T));
    used_ += num_bytes;
    return reinterpret_cast<const T*>(device_ + offset);
  }
  template <typename T>
  const T* Add(const std::vector<T>& v) {
    return Add(v.data(), v.size());
  }
  // Sends everything added since the last Send.
  void Send(cudaStream_t stream) {
    if (used_ == sent_) return;
    GS_CUDA_CHECK(cudaMemcpyAsync(device_ + sent_, host_ + sent_, used_ - sent_,
                                  cudaMemcpyHostToDevice, stream));
    sent_ = used_;
  }

 private:
  uint8_t* host_ = nullptr;
  uint8_t* device_ = nullptr;
  size_t capacity_ = 0, used_ = 0, sent_ = 0;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const CudaBackendOptions& options) : options_(options) {}
  ~CudaBackend() override {
    if (mode_ == Mode::kCapture) {
      // A step abandoned mid-capture (its logits never consumed): close the capture first.
      cudaGraph_t graph = nullptr;
      cudaStreamEndCapture(stream_, &graph);
      if (graph != nullptr) cudaGraphDestroy(graph);
      cudaGetLastError();
    }
    if (stream_) cudaStreamSynchronize(stream_);
    DropGraphs();
    for (void* p : allocations_) cudaFree(p);
    if (kv_pool_) cudaFree(kv_pool_);
    if (logits_host_) cudaFreeHost(logits_host_);
    if (results_host_) cudaFreeHost(results_host_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  Status Init() {
    GS_CUDA_CHECK(cudaSetDevice(options_.device_idx));
    cudaDeviceProp prop{};
    GS_CUDA_CHECK(cudaGetDeviceProperties(&prop, options_.device_idx));
    num_sms_ = prop.multiProcessorCount;
    max_shared_bytes_ = prop.sharedMemPerBlockOptin;
    description_ = std::string("cuda, ") + prop.name + " (" +
                   std::to_string(prop.totalGlobalMem >> 30) + " GiB, sm_" +
                   std::to_string(prop.major) + std::to_string(prop.minor) + ")";
    if (prop.major < 8) {
      return Status::Error(std::string(prop.name) +
                           " is older than compute capability 8.0 (bf16 tensor cores)");
    }
    GS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    gemm_ = std::make_unique<cuda::GemmBf16>();
    return Status::Ok();
  }

  const char* name() const override { return "cuda"; }
  const CudaGraphCounts& graph_counts() const { return graph_counts_; }
  std::string Describe() const override { return description_; }

  StatusOr<Weight> LoadWeight(const GgufTensorInfo& t) override {
    if (t.ne[3] != 1) return Status::Error("tensor " + t.name + " has more than 3 dimensions");
    Weight w;
    w.type = t.type;
    w.num_cols = t.ne[0];
    w.num_rows = t.ne[1];
    w.row_bytes = RowBytes(t.type, t.ne[0]);
    w.num_mats = t.ne[2];
    w.mat_bytes = w.row_bytes * static_cast<size_t>(t.ne[1]);
    if (t.num_dims == 1) {
      // Norm weights are read element-wise: f32 on the device.
      std::vector<float> values(t.ne[0]);
      if (!GetTypeTraits(t.type).computable) {
        return Status::Error("tensor " + t.name + " has an unsupported type");
      }
      ref::DequantizeRow(t.type, t.data, values.data(), t.ne[0]);
      w.data = Upload(values.data(), values.size() * sizeof(float));
      if (w.data == nullptr) return OutOfMemory("tensor " + t.name, values.size() * 4);
      w.type = GgmlType::kF32;
      w.row_bytes = sizeof(float) * t.ne[0];
      return w;
    }
    if (!cuda::MatVecSupports(t.type)) {
      return Status::Error("tensor " + t.name + " has type " + GetTypeTraits(t.type).name +
                           ", which the CUDA backend cannot compute with");
    }
    if (w.num_cols % 8 != 0) {  // the product kernels read rows in 8-value pieces
      return Status::Error("tensor " + t.name + " has rows of " + std::to_string(w.num_cols) +
                           " values; the CUDA backend needs a multiple of 8");
    }
    w.data = Upload(t.data, t.num_bytes);
    if (w.data == nullptr) return OutOfMemory("tensor " + t.name, t.num_bytes);
    // Experts' 3-D tensors are read straight from their GGUF blocks (kernels/cuda/moe_cuda.h)
    // at every batch size, so they get no bf16 copy.
    if (options_.bf16_weights && t.type != GgmlType::kBF16 && w.num_mats == 1 &&
        RoomForBf16Copy(sizeof(uint16_t) * w.num_rows * w.num_cols)) {
      auto* expanded = static_cast<uint16_t*>(Allocate(sizeof(uint16_t) * w.num_rows * w.num_cols));
      if (expanded == nullptr) return w;  // the copy is optional
      cuda::DequantizeToBf16({w.data, w.type, w.row_bytes, w.num_rows, w.num_cols, expanded},
                             stream_);
      bf16_copies_[w.data] = expanded;
    }
    return w;
  }

  int64_t FreeMemoryBytes() const override {
    size_t free_bytes = 0, total_bytes = 0;
    GS_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    return static_cast<int64_t>(free_bytes);
  }

  int64_t KvSlotBytes(int32_t num_kv_heads, int32_t head_dim) const override {
    // bf16 values, or e4m3 values plus one f32 scale per head row.
    const int64_t per_row = options_.kv_type == KvCacheType::kFp8 ? head_dim + 4 : 2 * head_dim;
    return 2 * num_kv_heads * per_row;
  }

  Status AllocateKv(const KvLayout& layout) override {
    for (const KvGroupLayout& g : layout.groups) {
      if (!cuda::AttentionSupportsHeadDim(g.head_dim)) {
        return Status::Error(
            "the CUDA backend's attention supports head dims 128, 256 and 512, not " +
            std::to_string(g.head_dim));
      }
      if (cuda::AttentionSharedMemBytes(g.head_dim) > max_shared_bytes_) {
        return Status::Error("attention at head dim " + std::to_string(g.head_dim) + " needs " +
                             std::to_string(cuda::AttentionSharedMemBytes(g.head_dim)) +
                             " bytes of shared memory per block; this GPU allows " +
                             std::to_string(max_shared_bytes_));
      }
    }
    layout_ = layout;
    const bool fp8 = options_.kv_type == KvCacheType::kFp8;
    const size_t elem_bytes = fp8 ? 1 : 2;
    size_t total = 0;
    for (int32_t group : layout.layer_group) {
      if (group < 0) continue;  // reads another layer's cache
      const KvGroupLayout& g = layout.groups[group];
      const size_t num_slots = static_cast<size_t>(g.num_blocks) * layout.block_size;
      total += 2 * AlignUp(num_slots * g.num_kv_heads * g.head_dim * elem_bytes);
      if (fp8) total += 2 * AlignUp(num_slots * g.num_kv_heads * sizeof(float));
    }
    // One allocation for the whole pool, carved per layer.
    // A second pool replaces the first: graphs captured over the old one must go with it.
    DropGraphs();
    if (kv_pool_ != nullptr) {
      GS_CUDA_CHECK(cudaStreamSynchronize(stream_));
      GS_CUDA_CHECK(cudaFree(kv_pool_));
      kv_pool_ = nullptr;
    }
    if (const cudaError_t err = cudaMalloc(&kv_pool_, std::max<size_t>(total, 1));
        err != cudaSuccess) {
      kv_pool_ = nullptr;
      if (err != cudaErrorMemoryAllocation) GS_CUDA_CHECK(err);
      cudaGetLastError();
      return OutOfMemory("a KV cache of this size (lower --kv-cache-mb)", total);
    }
    uint8_t* base = static_cast<uint8_t*>(kv_pool_);
    layers_.assign(layout.layer_group.size(), {});
    for (size_t l = 0; l < layout.layer_group.size(); ++l) {
      if (layout.layer_group[l] < 0) continue;
      const KvGroupLayout& g = layout.groups[layout.layer_group[l]];
      const size_t num_slots = static_cast<size_t>(g.num_blocks) * layout.block_size;
      const size_t kv_width = static_cast<size_t>(g.num_kv_heads) * g.head_dim;
      auto carve = [&](size_t num_bytes) {
        void* p = base;
        base += AlignUp(num_bytes);
        return p;
      };
      layers_[l].k = carve(num_slots * kv_width * elem_bytes);
      layers_[l].v = carve(num_slots * kv_width * elem_bytes);
      if (fp8) {
        layers_[l].k_scale = static_cast<float*>(carve(num_slots * g.num_kv_heads * 4));
        layers_[l].v_scale = static_cast<float*>(carve(num_slots * g.num_kv_heads * 4));
      }
    }
    return Status::Ok();
  }

  Act Alloc(int64_t num_rows, int64_t num_cols) override {
    return Act{static_cast<float*>(arena_.Alloc(sizeof(float) * num_rows * num_cols)), num_rows,
               num_cols};
  }

  // A new step: the previous one's work is finished (its staging and arena may be reused).
  void ResetArena() override {
    if (mode_ == Mode::kCapture) {
      // A step captured but never consumed (no logits): its graph is not kept.
      cudaGraph_t graph = nullptr;
      GS_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
      if (graph != nullptr) GS_CUDA_CHECK(cudaGraphDestroy(graph));
    }
    mode_ = Mode::kEager;
    GS_CUDA_CHECK(cudaStreamSynchronize(stream_));
    arena_.Reset();
    scratch_.Reset();
    moe_workspace_ = nullptr;
    moe_workspace_bytes_ = 0;
    staged_ = false;
    unstaged_ops_ = false;
  }

  void Embed(const Batch& batch, const Weight& table, float scale, Act out,
             bool overrides) override {
    const Staged& s = Stage(batch);
    if (mode_ == Mode::kReplay) return;
    // Without overrides (Gemma 4's per-layer embeddings) media rows read table row 0, times
    // scale, as every other row reads its token's: the ids staged with those rows set to 0.
    const bool scatter = overrides && !batch.embed_rows.empty();
    const int32_t* ids = overrides || batch.embed_rows.empty() ? s.token_ids : s.media_row0_ids;
    cuda::DequantizeRows({table.data, table.type, table.row_bytes, table.num_rows, ids,
                          out.num_rows, out.num_cols, scale, out.data},
                         stream_);
    if (scatter) {
      cuda::ScatterRows({s.embed_values, s.embed_rows, out.data,
                         static_cast<int64_t>(batch.embed_rows.size()), out.num_cols},
                        stream_);
    }
  }

  using Backend::RmsNorm;
  void RmsNorm(Act x, const Weight* w, float eps, Act out) override {
    if (Skip()) return;
    cuda::RmsNorm({x.data, w ? static_cast<const float*>(w->data) : nullptr, out.data, x.num_rows,
                   x.num_cols, w ? w->num_cols : x.num_cols, eps},
                  stream_);
  }

  void NormAdd(Act x, const Weight& w, float eps, Act residual) override {
    if (Skip()) return;
    cuda::NormAdd(
        {x.data, static_cast<const float*>(w.data), residual.data, x.num_rows, x.num_cols, eps},
        stream_);
  }

  void MatMuls(Act x, std::initializer_list<MatMulTarget> targets) override {
    if (Skip()) return;
    GS_CHECK(targets.size() >= 1 && targets.size() <= cuda::kMatVecMaxTargets);
    if (x.num_rows <= cuda::kMatVecMaxRows) {
      // Decode-sized: read each weight once straight from its GGUF blocks.
      cuda::MatVecParams p{};
      p.x = x.data;
      p.num_rows = x.num_rows;
      p.num_cols = x.num_cols;
      for (const MatMulTarget& t : targets) {
        GS_CHECK(t.w->num_cols == x.num_cols && t.out.num_rows == x.num_rows);
        p.targets[p.num_targets++] = {t.w->data,      t.out.data,     t.w->num_rows,
                                      t.out.num_cols, t.w->row_bytes, t.w->type};
      }
      cuda::MatVec(p, stream_);
      return;
    }
    // Prefill-sized: bf16 tensor-core GEMM on weights expanded once per call.
    auto* x_bf16 =
        static_cast<uint16_t*>(scratch_.Alloc(sizeof(uint16_t) * x.num_rows * x.num_cols));
    cuda::F32ToBf16({x.data, x_bf16, x.num_rows * x.num_cols}, stream_);
    for (const MatMulTarget& t : targets) {
      GS_CHECK(t.w->num_cols == x.num_cols && t.out.num_rows == x.num_rows);
      const auto* w_bf16 = static_cast<const uint16_t*>(t.w->data);
      if (auto it = bf16_copies_.find(t.w->data); it != bf16_copies_.end()) {
        w_bf16 = it->second;
      } else if (t.w->type != GgmlType::kBF16) {
        auto* expanded = static_cast<uint16_t*>(
            scratch_.Alloc(sizeof(uint16_t) * t.w->num_rows * t.w->num_cols));
        cuda::DequantizeToBf16(
            {t.w->data, t.w->type, t.w->row_bytes, t.w->num_rows, t.w->num_cols, expanded},
            stream_);
        w_bf16 = expanded;
      }
      gemm_->Run(x_bf16, w_bf16, t.out.data, x.num_rows, t.w->num_rows, x.num_cols, t.out.num_cols,
                 stream_);
    }
  }

  void HeadNormRope(const Batch& batch, Act x, const HeadNormRopeSpec& spec) override {
    const Staged& s = Stage(batch);
    if (mode_ == Mode::kReplay) return;
    const int32_t head_dim = static_cast<int32_t>(x.num_cols / spec.num_heads);
    cuda::QkNormRope(
        {x.data, spec.norm ? static_cast<const float*>(spec.norm->data) : nullptr, s.positions,
         spec.freq_factors ? static_cast<const float*>(spec.freq_factors->data) : nullptr,
         x.num_rows, spec.num_heads, head_dim, spec.n_rot, spec.eps, spec.rope_base,
         spec.rope_freq_scale, spec.normalize},
        stream_);
  }

  void StoreKv(const Batch& batch, int32_t layer_idx, int32_t kv_group, Act k, Act v) override {
    const Staged& s = Stage(batch);
    if (mode_ == Mode::kReplay) return;
    const LayerKv& kv = layers_[layer_idx];
    const KvGroupLayout& g = layout_.groups[kv_group];
    GS_CHECK(layout_.layer_group[layer_idx] == kv_group);
    cuda::KvStore(
        {k.data, v.data, kv.k, kv.v, kv.k_scale, kv.v_scale, s.groups[kv_group].slot_mapping,
         k.num_rows, g.num_kv_heads, g.head_dim, KvType()},
        stream_);
  }

  void Attention(const Batch& batch, int32_t layer_idx, int32_t kv_group, Act q,
                 const AttentionSpec& spec, Act out) override {
    const Staged& s = Stage(batch);
    if (mode_ == Mode::kReplay) return;
    const StagedGroup& g = s.groups[kv_group];
    GS_CHECK(spec.window == layout_.groups[kv_group].window &&
             layout_.layer_group[layer_idx] == kv_group);
    const LayerKv& kv = layers_[layer_idx];
    cuda::PagedAttentionParams p{};
    p.q = q.data;
    p.out = out.data;
    p.k_cache = kv.k;
    p.v_cache = kv.v;
    p.k_scale = kv.k_scale;
    p.v_scale = kv.v_scale;
    p.positions = s.positions;
    p.block_indptr = g.block_indptr;
    p.block_ids = g.block_ids;
    p.num_heads = spec.num_heads;
    p.num_kv_heads = spec.num_kv_heads;
    p.head_dim = spec.head_dim;
    p.block_size = layout_.block_size;
    p.window = spec.window;
    p.scale = spec.scale;
    p.softcap = spec.softcap;
    p.kv_type = KvType();
    p.tiles = g.tiles;
    p.splits = g.splits;
    p.decode_rows = g.decode_rows;
    p.num_tiles = g.num_tiles;
    p.num_splits = g.num_splits;
    p.num_decode_rows = g.num_decode_rows;
    if (g.num_splits > 0) {
      // One workspace per step and group, shared by its layers (they run in stream order).
      StagedGroup& mutable_group = staged_groups_[kv_group];
      const size_t num_partials = static_cast<size_t>(g.num_splits) * spec.num_heads;
      if (mutable_group.partial_out == nullptr) {
        mutable_group.partial_out =
            static_cast<float*>(scratch_.Alloc(sizeof(float) * num_partials * spec.head_dim));
        mutable_group.partial_lse =
            static_cast<float*>(scratch_.Alloc(sizeof(float) * num_partials));
      }
      p.partial_out = mutable_group.partial_out;
      p.partial_lse = mutable_group.partial_lse;
    }
    cuda::PagedAttention(p, stream_);
  }

  void GeGlu(Act gate, Act up, int64_t up_offset, bool round_f16) override {
    if (Skip()) return;
    GS_CHECK(up.num_rows == gate.num_rows && up_offset + gate.num_cols <= up.num_cols);
    cuda::GeGlu({gate.data, up.data, gate.num_rows, gate.num_cols, up.num_cols, up_offset,
                 round_f16},
                stream_);
  }

  void Add(Act x, Act out) override {
    if (Skip()) return;
    GS_CHECK(x.num_rows == out.num_rows && x.num_cols == out.num_cols);
    cuda::Add(x.data, out.data, x.num_rows * x.num_cols, stream_);
  }

  void Scale(Act x, float s) override {
    if (Skip()) return;
    cuda::Scale(x.data, x.num_rows * x.num_cols, s, stream_);
  }

  void Copy(Act x, Act out) override {
    if (Skip()) return;
    GS_CHECK(x.num_rows == out.num_rows && x.num_cols == out.num_cols);
    GS_CUDA_CHECK(cudaMemcpyAsync(out.data, x.data, sizeof(float) * x.num_rows * x.num_cols,
                                  cudaMemcpyDeviceToDevice, stream_));
  }

  // Routing, grouping by expert and the experts' products all on the device (no host round
  // trip, so decode steps that route are captured as graphs like any other); kernels/cuda/
  // moe_cuda.h says why grouped matvecs and what that costs at prefill.
  void Moe(Act x, Act router_logits, const MoeSpec& spec, Act out) override {
    if (Skip()) return;
    GS_CHECK(router_logits.num_rows == x.num_rows && router_logits.num_cols == spec.num_experts &&
             out.num_rows == x.num_rows && out.num_cols == x.num_cols);
    const size_t num_bytes = cuda::MoeWorkspaceBytes(x.num_rows, x.num_cols, spec.num_experts,
                                                     spec.num_used, spec.expert_ffn);
    if (moe_workspace_bytes_ < num_bytes) {
      // One workspace per step, shared by its layers (they run in stream order).
      moe_workspace_ = scratch_.Alloc(num_bytes);
      moe_workspace_bytes_ = num_bytes;
    }
    auto expert_weight = [&](const Weight* w, int64_t num_rows, int64_t num_cols) {
      if (w == nullptr) return cuda::MoeWeight{};
      GS_CHECK(w->num_mats == spec.num_experts && w->num_rows == num_rows &&
               w->num_cols == num_cols);
      return cuda::MoeWeight{w->data, w->type, w->mat_bytes, w->row_bytes};
    };
    cuda::MoeParams p{};
    p.x = x.data;
    p.router_logits = router_logits.data;
    p.scales = DeviceExpertScales(spec.down_scale, spec.num_experts);
    p.gate_up = expert_weight(spec.gate_up, 2 * int64_t{spec.expert_ffn}, x.num_cols);
    p.gate = expert_weight(spec.gate_up ? nullptr : spec.gate, spec.expert_ffn, x.num_cols);
    p.up = expert_weight(spec.gate_up ? nullptr : spec.up, spec.expert_ffn, x.num_cols);
    p.down = expert_weight(spec.down, x.num_cols, spec.expert_ffn);
    p.out = out.data;
    p.workspace = moe_workspace_;
    p.num_tokens = x.num_rows;
    p.hidden = x.num_cols;
    p.num_experts = spec.num_experts;
    p.num_used = spec.num_used;
    p.expert_ffn = spec.expert_ffn;
    cuda::Moe(p, stream_);
  }

  void GatherRows(Act x, std::span<const int32_t> rows, Act out) override {
    if (Skip()) return;
    const int32_t* rows_dev;
    if (staged_ && rows.data() == staged_batch_->logits_rows.data() &&
        rows.size() == staged_batch_->logits_rows.size()) {
      rows_dev = step_.logits_rows;
    } else {
      // Rows staged after the step's first copy would replay stale bytes from a graph; a
      // graphable step only gathers its batch's logits rows.
      GS_CHECK(mode_ == Mode::kEager);
      rows_dev = staging_.Add(rows.data(), rows.size());
      staging_.Send(stream_);
    }
    cuda::GatherRows({x.data, rows_dev, out.data, static_cast<int64_t>(rows.size()), x.num_cols},
                     stream_);
  }

  void ReadLogits(Act x, float softcap, float* host_out) override {
    RunGraph();
    const int64_t n = x.num_rows * x.num_cols;
    if (softcap > 0) cuda::Softcap(x.data, n, softcap, stream_);
    if (logits_host_capacity_ < static_cast<size_t>(n)) {
      if (logits_host_) GS_CUDA_CHECK(cudaFreeHost(logits_host_));
      logits_host_capacity_ = static_cast<size_t>(n);
      GS_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&logits_host_),
                                   sizeof(float) * logits_host_capacity_));
    }
    GS_CUDA_CHECK(
        cudaMemcpyAsync(logits_host_, x.data, sizeof(float) * n, cudaMemcpyDeviceToHost, stream_));
    GS_CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::memcpy(host_out, logits_host_, sizeof(float) * n);
  }

  Act LogitsBuffer(float* host_out, int64_t num_rows, int64_t num_cols) override {
    return Alloc(num_rows, num_cols);
  }

  bool SamplesOnDevice() const override { return true; }

  // The rows' parameters and penalty/bias lists go up in one copy, the picks (id, logprob, top
  // logprobs: a few hundred bytes a row) come back in one: the [rows, vocab] logits stay here.
  void SampleLogits(Act logits, float softcap, std::span<const DeviceSampleRow> rows,
                    std::span<SampleRowResult> out) override {
    RunGraph();
    const int32_t num_rows = static_cast<int32_t>(rows.size());
    GS_CHECK(logits.num_rows == num_rows && out.size() == rows.size());
    if (softcap > 0)
      cuda::Softcap(logits.data, logits.num_rows * logits.num_cols, softcap, stream_);
    std::vector<SampleRowParams> params(num_rows);
    std::vector<int32_t> penalty_indptr{0}, penalty_ids, penalty_counts, bias_indptr{0}, bias_ids;
    std::vector<uint8_t> penalty_in_prompt;
    std::vector<float> bias_values;
    for (int32_t r = 0; r < num_rows; ++r) {
      params[r] = rows[r].params;
      for (const PenaltyToken& t : rows[r].penalties) {
        penalty_ids.push_back(t.id);
        penalty_counts.push_back(t.output_count);
        penalty_in_prompt.push_back(t.in_prompt ? 1 : 0);
      }
      penalty_indptr.push_back(static_cast<int32_t>(penalty_ids.size()));
      for (const LogitBiasEntry& b : rows[r].bias) {
        bias_ids.push_back(b.id);
        bias_values.push_back(b.value);
      }
      bias_indptr.push_back(static_cast<int32_t>(bias_ids.size()));
    }
    // The previous call's copies finished before it returned, so the buffer may be regrown.
    auto bytes = [](const auto& v) { return AlignUp(v.size() * sizeof(v[0])); };
    sample_staging_.Reserve(bytes(params) + bytes(penalty_indptr) + bytes(penalty_ids) +
                            bytes(penalty_counts) + bytes(penalty_in_prompt) + bytes(bias_indptr) +
                            bytes(bias_ids) + bytes(bias_values));
    sample_staging_.Reset();
    SampleParams p{};
    p.logits = logits.data;
    p.scratch =
        static_cast<float*>(scratch_.Alloc(sizeof(float) * logits.num_rows * logits.num_cols));
    p.row_params = sample_staging_.Add(params);
    if (!penalty_ids.empty()) {
      p.penalty_indptr = sample_staging_.Add(penalty_indptr);
      p.penalty_ids = sample_staging_.Add(penalty_ids);
      p.penalty_counts = sample_staging_.Add(penalty_counts);
      p.penalty_in_prompt = sample_staging_.Add(penalty_in_prompt);
    }
    if (!bias_ids.empty()) {
      p.bias_indptr = sample_staging_.Add(bias_indptr);
      p.bias_ids = sample_staging_.Add(bias_ids);
      p.bias_values = sample_staging_.Add(bias_values);
    }
    sample_staging_.Send(stream_);
    // Outputs, contiguous so that one copy brings them back.
    const size_t ids_bytes = sizeof(int32_t) * num_rows, logprob_bytes = sizeof(float) * num_rows;
    const size_t top_ids_bytes = sizeof(int32_t) * num_rows * kMaxTopLogprobs;
    const size_t top_bytes = sizeof(float) * num_rows * kMaxTopLogprobs;
    const size_t out_bytes = ids_bytes + logprob_bytes + top_ids_bytes + top_bytes;
    auto* out_dev = static_cast<uint8_t*>(scratch_.Alloc(out_bytes));
    p.out_ids = reinterpret_cast<int32_t*>(out_dev);
    p.out_logprobs = reinterpret_cast<float*>(out_dev + ids_bytes);
    p.out_top_ids = reinterpret_cast<int32_t*>(out_dev + ids_bytes + logprob_bytes);
    p.out_top_logprobs =
        reinterpret_cast<float*>(out_dev + ids_bytes + logprob_bytes + top_ids_bytes);
    p.num_rows = num_rows;
    p.num_vocab = static_cast<int32_t>(logits.num_cols);
    SampleRows(p, stream_);
    EnsureHostResults(out_bytes);
    GS_CUDA_CHECK(
        cudaMemcpyAsync(results_host_, out_dev, out_bytes, cudaMemcpyDeviceToHost, stream_));
    GS_CUDA_CHECK(cudaStreamSynchronize(stream_));
    const auto* ids = reinterpret_cast<const int32_t*>(results_host_);
    const auto* logprobs = reinterpret_cast<const float*>(results_host_ + ids_bytes);
    const auto* top_ids =
        reinterpret_cast<const int32_t*>(results_host_ + ids_bytes + logprob_bytes);
    const auto* top_logprobs =
        reinterpret_cast<const float*>(results_host_ + ids_bytes + logprob_bytes + top_ids_bytes);
    for (int32_t r = 0; r < num_rows; ++r) {
      SampleRowResult& result = out[r];
      result = SampleRowResult{};
      result.id = ids[r];
      result.logprob = logprobs[r];
      const int32_t num_top = std::min(rows[r].params.num_top_logprobs, kMaxTopLogprobs);
      for (int32_t i = 0; i < num_top; ++i) {
        const int32_t id = top_ids[r * kMaxTopLogprobs + i];
        if (id < 0) break;
        result.top[result.num_top++] = {id, top_logprobs[r * kMaxTopLogprobs + i]};
      }
    }
  }

 private:
  struct LayerKv {
    void* k = nullptr;
    void* v = nullptr;
    float* k_scale = nullptr;  // fp8 only
    float* v_scale = nullptr;
  };
  struct StagedGroup {
    const int32_t* block_indptr = nullptr;
    const int32_t* block_ids = nullptr;
    const int64_t* slot_mapping = nullptr;
    const cuda::PrefillTile* tiles = nullptr;
    const cuda::DecodeSplit* splits = nullptr;
    const cuda::DecodeRow* decode_rows = nullptr;
    int32_t num_tiles = 0, num_splits = 0, num_decode_rows = 0;
    float* partial_out = nullptr;  // decode workspace, allocated at the group's first layer
    float* partial_lse = nullptr;
  };
  struct Staged {
    const int32_t* token_ids = nullptr;
    const int32_t* positions = nullptr;
    const int32_t* logits_rows = nullptr;
    const int32_t* embed_rows = nullptr;
    const float* embed_values = nullptr;
    const int32_t* media_row0_ids = nullptr;  // token_ids with embed_rows set to 0, or null
    const StagedGroup* groups = nullptr;
  };

  cuda::KvType KvType() const {
    return options_.kv_type == KvCacheType::kFp8 ? cuda::KvType::kFp8 : cuda::KvType::kBf16;
  }

  // The batch's arrays and every group's attention plan, on the device: built at the first op
  // of a step that needs them and reused by every layer. Decides whether the step runs eagerly,
  // is captured as a CUDA graph or replays one.
  const Staged& Stage(const Batch& batch) {
    if (staged_) {
      GS_CHECK(staged_batch_ == &batch);
      return step_;
    }
    graph_key_ = GraphKey(batch);
    const bool graphable = !graph_key_.empty();
    const size_t num_groups = batch.kv_groups.size();
    std::vector<cuda::AttentionPlan> plans(num_groups);
    // Graphable steps pad every block table to the key's width so that each array sits at the
    // same offset, with the same length, whenever the key recurs.
    std::vector<std::vector<int32_t>> padded_indptr(num_groups), padded_ids(num_groups);
    size_t num_bytes = 0;
    auto bytes = [](const auto& v) { return AlignUp(v.size() * sizeof(v[0])); };
    std::vector<int32_t> media_row0_ids;
    if (!batch.embed_rows.empty()) {
      media_row0_ids = batch.token_ids;
      for (int32_t row : batch.embed_rows) media_row0_ids[row] = 0;
    }
    num_bytes += bytes(batch.token_ids) + bytes(batch.positions) + bytes(batch.logits_rows) +
                 bytes(batch.embed_rows) + bytes(batch.embed_values) + bytes(media_row0_ids);
    for (size_t g = 0; g < num_groups; ++g) {
      const KvGroupBatch& kg = batch.kv_groups[g];
      const int32_t fixed_splits =
          graphable ? cuda::FixedDecodeSplits(batch.num_seqs(), layout_.groups[g].num_kv_heads,
                                              num_sms_)
                    : 0;
      plans[g] = cuda::PlanAttention({batch.query_start.data(), batch.positions.data(),
                                      batch.num_seqs(), layout_.groups[g].window,
                                      layout_.groups[g].num_kv_heads, num_sms_, fixed_splits});
      if (graphable) {
        const int32_t width = graph_key_[1 + g];
        padded_indptr[g].resize(batch.num_seqs() + 1);
        padded_ids[g].assign(static_cast<size_t>(batch.num_seqs()) * width, -1);
        for (int32_t seq = 0; seq < batch.num_seqs(); ++seq) {
          padded_indptr[g][seq] = seq * width;
          std::copy(kg.block_ids.begin() + kg.block_indptr[seq],
                    kg.block_ids.begin() + kg.block_indptr[seq + 1],
                    padded_ids[g].begin() + static_cast<size_t>(seq) * width);
        }
        padded_indptr[g][batch.num_seqs()] = batch.num_seqs() * width;
      }
      const std::vector<int32_t>& indptr = graphable ? padded_indptr[g] : kg.block_indptr;
      const std::vector<int32_t>& ids = graphable ? padded_ids[g] : kg.block_ids;
      num_bytes += bytes(indptr) + bytes(ids) + bytes(kg.slot_mapping) + bytes(plans[g].tiles) +
                   bytes(plans[g].splits) + bytes(plans[g].decode_rows);
    }
    // Headroom for a few arrays staged later in the step (GatherRows with other rows).
    if (staging_.Reserve(num_bytes + (size_t{1} << 20))) DropGraphs();
    staging_.Reset();
    step_.token_ids = staging_.Add(batch.token_ids);
    step_.positions = staging_.Add(batch.positions);
    step_.logits_rows = staging_.Add(batch.logits_rows);
    step_.embed_rows = staging_.Add(batch.embed_rows);
    step_.embed_values = staging_.Add(batch.embed_values);
    step_.media_row0_ids = media_row0_ids.empty() ? nullptr : staging_.Add(media_row0_ids);
    staged_groups_.assign(num_groups, {});
    for (size_t g = 0; g < num_groups; ++g) {
      const KvGroupBatch& kg = batch.kv_groups[g];
      StagedGroup& sg = staged_groups_[g];
      sg.block_indptr = staging_.Add(graphable ? padded_indptr[g] : kg.block_indptr);
      sg.block_ids = staging_.Add(graphable ? padded_ids[g] : kg.block_ids);
      sg.slot_mapping = staging_.Add(kg.slot_mapping);
      sg.tiles = staging_.Add(plans[g].tiles);
      sg.splits = staging_.Add(plans[g].splits);
      sg.decode_rows = staging_.Add(plans[g].decode_rows);
      sg.num_tiles = static_cast<int32_t>(plans[g].tiles.size());
      sg.num_splits = static_cast<int32_t>(plans[g].splits.size());
      sg.num_decode_rows = static_cast<int32_t>(plans[g].decode_rows.size());
    }
    mode_ = Mode::kEager;
    if (graphable && graphs_.contains(graph_key_)) {
      mode_ = Mode::kReplay;  // the graph's first node copies the staging buffer
    } else if (graphable && seen_keys_.contains(graph_key_)) {
      // Second sighting: the first ran eagerly, so every buffer, plan and cuBLASLt algorithm
      // this shape needs exists and nothing below allocates while capturing.
      GS_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      mode_ = Mode::kCapture;
    } else if (graphable) {
      seen_keys_.insert(graph_key_);
    }
    if (mode_ != Mode::kReplay) staging_.Send(stream_);
    step_.groups = staged_groups_.data();
    staged_batch_ = &batch;
    staged_ = true;
    return step_;
  }

  // The graph key of a step that may run as a CUDA graph, else empty: every sequence decodes one
  // token, every row wants logits, no embedding overrides, and Stage comes before any other op
  // (a graph must hold the whole step). The key: the number of rows, then each KV group's
  // widest block table rounded up to a power of two.
  std::vector<int32_t> GraphKey(const Batch& batch) const {
    const int32_t num_seqs = batch.num_seqs();
    if (!options_.cuda_graphs || unstaged_ops_ || num_seqs == 0 || num_seqs > kMaxGraphRows ||
        batch.num_tokens() != num_seqs || !batch.embed_rows.empty() ||
        static_cast<int32_t>(batch.logits_rows.size()) != num_seqs) {
      return {};
    }
    for (int32_t i = 0; i < num_seqs; ++i) {
      if (batch.logits_rows[i] != i || batch.query_start[i + 1] != i + 1) return {};
    }
    std::vector<int32_t> key{num_seqs};
    for (const KvGroupBatch& kg : batch.kv_groups) {
      uint32_t widest = 1;
      for (int32_t i = 0; i < num_seqs; ++i) {
        widest = std::max<uint32_t>(widest, kg.block_indptr[i + 1] - kg.block_indptr[i]);
      }
      key.push_back(static_cast<int32_t>(std::bit_ceil(widest)));
    }
    return key;
  }

  // Ops that take no batch: skip in a replayed step (the graph holds their work); note when one
  // runs before the step is staged (such a step is never captured).
  bool Skip() {
    if (!staged_) unstaged_ops_ = true;
    return mode_ == Mode::kReplay;
  }

  // At the step's first consumer of logits: ends a capture and launches its graph, or launches
  // the graph being replayed; what follows (softcap, sampling, copies) runs eagerly.
  void RunGraph() {
    if (mode_ == Mode::kCapture) {
      cudaGraph_t graph = nullptr;
      GS_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
      cudaGraphExec_t exec = nullptr;
      GS_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
      GS_CUDA_CHECK(cudaGraphDestroy(graph));
      if (graphs_.size() >= kMaxGraphs) DropGraphs();
      graphs_[graph_key_] = exec;
      GS_CUDA_CHECK(cudaGraphLaunch(exec, stream_));
      ++graph_counts_.captures;
    } else if (mode_ == Mode::kReplay) {
      GS_CUDA_CHECK(cudaGraphLaunch(graphs_.at(graph_key_), stream_));
      ++graph_counts_.replays;
    }
    mode_ = Mode::kEager;
  }

  void DropGraphs() {
    for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
    graphs_.clear();
    seen_keys_.clear();
  }

  // bf16 copies are a speed-up, not a need: they may take device memory only while at least
  // half of it stays free for the KV cache and activations (a GPU too small for them expands
  // weights per product instead).
  bool RoomForBf16Copy(size_t num_bytes) const {
    size_t free_bytes = 0, total_bytes = 0;
    GS_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    return free_bytes >= num_bytes && free_bytes - num_bytes >= total_bytes / 2;
  }

  // Null when the device is out of memory (a model or cache too large for this GPU is the
  // user's to fix, not a broken invariant).
  void* Allocate(size_t num_bytes) {
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, num_bytes);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear it
      return nullptr;
    }
    GS_CUDA_CHECK(err);
    allocations_.push_back(p);
    return p;
  }

  // MoeSpec's expert scales are host values the model keeps for its lifetime: each array goes
  // to the device once, at its first (eager) use, and is uploaded again should the values at that
  // address ever change (another model loaded on this backend).
  const float* DeviceExpertScales(const float* host, int32_t num_experts) {
    if (host == nullptr) return nullptr;
    ExpertScales& cached = expert_scales_[host];
    const std::span<const float> values(host, num_experts);
    if (cached.device == nullptr || !std::ranges::equal(cached.values, values)) {
      GS_CHECK(mode_ == Mode::kEager);  // a capture replays what the eager run uploaded
      cached.values.assign(values.begin(), values.end());
      cached.device = static_cast<const float*>(Upload(host, sizeof(float) * num_experts));
      GS_CHECK_MSG(cached.device != nullptr, "out of GPU memory for expert scales");
    }
    return cached.device;
  }

  static Status OutOfMemory(const std::string& what, size_t num_bytes) {
    return Status::Error("not enough GPU memory for " + what + " (" +
                         std::to_string(num_bytes >> 20) + " MiB more)");
  }

  // Weights: padded by 16 bytes, as the product kernels may read up to the next 16-byte
  // boundary past a matrix's last byte.
  // On stream_, so that kernels reading the weight (the bf16 expansion) are ordered after the
  // copy (stream_ does not synchronize with the legacy default stream), and waited for, as data
  // may be a temporary.
  void* Upload(const void* data, size_t num_bytes) {
    void* p = Allocate(num_bytes + 16);
    if (p == nullptr) return nullptr;
    GS_CUDA_CHECK(cudaMemcpyAsync(p, data, num_bytes, cudaMemcpyHostToDevice, stream_));
    GS_CUDA_CHECK(cudaMemsetAsync(static_cast<uint8_t*>(p) + num_bytes, 0, 16, stream_));
    GS_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return p;
  }

  CudaBackendOptions options_;
  std::string description_;
  int32_t num_sms_ = 1;
  size_t max_shared_bytes_ = 0;  // per block, after opting in
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::GemmBf16> gemm_;
  std::vector<void*> allocations_;  // weights, freed at destruction
  void* kv_pool_ = nullptr;         // the KV pool: one allocation, replaced by AllocateKv
  std::unordered_map<const void*, const uint16_t*> bf16_copies_;  // GGUF blocks -> bf16 copy
  KvLayout layout_;
  std::vector<LayerKv> layers_;
  DeviceArena arena_;    // the model's activations (Alloc): the same addresses whenever the
                         // same step shape recurs, which graph replay relies on
  DeviceArena scratch_;  // buffers ops use internally
  void* moe_workspace_ = nullptr;  // this step's, from scratch_
  size_t moe_workspace_bytes_ = 0;
  struct ExpertScales {
    std::vector<float> values;  // what the device copy holds
    const float* device = nullptr;
  };
  std::unordered_map<const float*, ExpertScales> expert_scales_;  // by MoeSpec::down_scale
  BatchStaging staging_;
  Staged step_;
  std::vector<StagedGroup> staged_groups_;
  bool staged_ = false;  // step_ holds this step's batch (set by the step's first op)
  const Batch* staged_batch_ = nullptr;
  // CUDA graphs of decode steps.
  enum class Mode { kEager, kCapture, kReplay };
  static constexpr int32_t kMaxGraphRows = 256;
  static constexpr size_t kMaxGraphs = 512;
  Mode mode_ = Mode::kEager;
  bool unstaged_ops_ = false;  // an op ran before this step's Stage
  std::vector<int32_t> graph_key_;
  std::map<std::vector<int32_t>, cudaGraphExec_t> graphs_;
  std::set<std::vector<int32_t>> seen_keys_;  // keys run once eagerly
  CudaGraphCounts graph_counts_;
  float* logits_host_ = nullptr;  // pinned
  size_t logits_host_capacity_ = 0;
  BatchStaging sample_staging_;      // sampling inputs
  uint8_t* results_host_ = nullptr;  // pinned: sampling outputs
  size_t results_host_capacity_ = 0;

  void EnsureHostResults(size_t num_bytes) {
    if (num_bytes <= results_host_capacity_) return;
    if (results_host_) GS_CUDA_CHECK(cudaFreeHost(results_host_));
    results_host_capacity_ = std::max(num_bytes, 2 * results_host_capacity_);
    GS_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&results_host_), results_host_capacity_));
  }
};

}  // namespace

CudaGraphCounts GetCudaGraphCounts(const Backend& backend) {
  const auto* cuda = dynamic_cast<const CudaBackend*>(&backend);
  return cuda != nullptr ? cuda->graph_counts() : CudaGraphCounts{};
}

StatusOr<std::string> DescribeCudaDevice(int device_idx) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return Status::Error(cudaGetErrorString(err));
  }
  if (device_idx < 0 || device_idx >= count) {
    return Status::Error("no CUDA device " + std::to_string(device_idx) + " (" +
                         std::to_string(count) + " found)");
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device_idx) != cudaSuccess) {
    return Status::Error("cannot read CUDA device " + std::to_string(device_idx));
  }
  return std::string(prop.name) + ", " + std::to_string(prop.totalGlobalMem >> 30) + " GiB";
}

StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(const CudaBackendOptions& options) {
  StatusOr<std::string> device = DescribeCudaDevice(options.device_idx);
  if (!device.ok()) return device.status();
  auto backend = std::make_unique<CudaBackend>(options);
  Status status = backend->Init();
  if (!status.ok()) return status;
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace gs
