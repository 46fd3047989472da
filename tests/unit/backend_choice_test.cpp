// --device: names parse, a device that cannot be used is an error that says why, and auto falls
// back to the CPU when no GPU is usable (which is every run of this test on a machine without
// one, and the one case that needs no GPU to check). --kv-cache-dtype: each device takes its own
// types, and the CPU's f32 cache costs twice the f16 one.
#include <gtest/gtest.h>

#include "engine/cuda/cuda_backend.h"
#include "engine/kv/kv_plan.h"
#include "server/loaded_model.h"

namespace gs {
namespace {

TEST(BackendChoiceTest, DeviceNamesParse) {
  EXPECT_EQ(ParseDeviceKind("auto").value(), DeviceKind::kAuto);
  EXPECT_EQ(ParseDeviceKind("cpu").value(), DeviceKind::kCpu);
  EXPECT_EQ(ParseDeviceKind("cuda").value(), DeviceKind::kCuda);
  StatusOr<DeviceKind> bad = ParseDeviceKind("gpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("gpu"), std::string::npos);
}

TEST(BackendChoiceTest, ANonexistentDeviceIsAnError) {
  StatusOr<std::string> described = DescribeCudaDevice(999);
  ASSERT_FALSE(described.ok());
  EXPECT_FALSE(described.status().message().empty());
  StatusOr<std::unique_ptr<Backend>> b = CreateCudaBackend({.device_idx = 999});
  ASSERT_FALSE(b.ok());
  EXPECT_FALSE(b.status().message().empty());
}

TEST(BackendChoiceTest, CpuIsAlwaysThere) {
  StatusOr<std::unique_ptr<Backend>> b =
      CreateBackend({.device = DeviceKind::kCpu, .num_threads = 1});
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_STREQ((*b)->name(), "cpu");
}

TEST(BackendChoiceTest, AutoFallsBackToTheCpuWithoutAUsableGpu) {
  StatusOr<std::string> gpu = DescribeCudaDevice(0);
  if (gpu.ok()) GTEST_SKIP() << "a GPU is usable here: " << *gpu;
  // cuda asked for explicitly: the reason, not a silent CPU.
  StatusOr<std::unique_ptr<Backend>> cuda = CreateBackend({.device = DeviceKind::kCuda});
  ASSERT_FALSE(cuda.ok());
  EXPECT_NE(cuda.status().message().find(gpu.status().message()), std::string::npos)
      << cuda.status().message();
  StatusOr<std::unique_ptr<Backend>> fallback =
      CreateBackend({.device = DeviceKind::kAuto, .num_threads = 1});
  ASSERT_TRUE(fallback.ok()) << fallback.status().message();
  EXPECT_STREQ((*fallback)->name(), "cpu");
}

TEST(BackendChoiceTest, KvCacheTypesBelongToTheirDevice) {
  EXPECT_EQ(ParseKvDtype("auto").value(), KvDtype::kAuto);
  EXPECT_EQ(ParseKvDtype("f32").value(), KvDtype::kF32);
  EXPECT_EQ(ParseKvDtype("fp8").value(), KvDtype::kFp8);
  EXPECT_FALSE(ParseKvDtype("f8").ok());

  auto cpu_with = [](KvDtype dtype) {
    return CreateBackend({.device = DeviceKind::kCpu, .num_threads = 1, .kv_dtype = dtype});
  };
  StatusOr<std::unique_ptr<Backend>> f16 = cpu_with(KvDtype::kAuto);
  StatusOr<std::unique_ptr<Backend>> f32 = cpu_with(KvDtype::kF32);
  ASSERT_TRUE(f16.ok() && f32.ok());
  EXPECT_EQ(BackendSlotBytes(**f32)(2, 256), 2 * BackendSlotBytes(**f16)(2, 256));
  StatusOr<std::unique_ptr<Backend>> explicit_f16 = cpu_with(KvDtype::kF16);
  ASSERT_TRUE(explicit_f16.ok());
  EXPECT_EQ(BackendSlotBytes(**f16)(2, 256), BackendSlotBytes(**explicit_f16)(2, 256));
  StatusOr<std::unique_ptr<Backend>> gpu_type_on_cpu = cpu_with(KvDtype::kBf16);
  ASSERT_FALSE(gpu_type_on_cpu.ok());
  EXPECT_NE(gpu_type_on_cpu.status().message().find("GPU cache types"), std::string::npos);
}

}  // namespace
}  // namespace gs
