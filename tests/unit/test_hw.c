/* Hardware probe: parsers on canned /proc and nvidia-smi text, a probe of
 * a fake /proc + /sys tree, and sanity of the live probe. */
#include "../test.h"
#include "lqmf/hw.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static void write_file(const char *dir, const char *rel, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    if (!f) {
        lqmf_test_fail(__FILE__, __LINE__, "cannot write %s", path);
        return;
    }
    fputs(text, f);
    fclose(f);
}

static const char k_meminfo[] = "MemTotal:       65807292 kB\n"
                                "MemFree:         1234567 kB\n"
                                "MemAvailable:   51234567 kB\n"
                                "Buffers:          123456 kB\n"
                                "Cached:         20000000 kB\n"
                                "SwapTotal:             0 kB\n"
                                "HugePages_Total:       0\n";

TEST(hw_parse_meminfo) {
    uint64_t total, avail;
    REQUIRE_OK(lqmf_hw_parse_meminfo(k_meminfo, strlen(k_meminfo), &total, &avail));
    CHECK_EQ_INT(total, 65807292ull * 1024);
    CHECK_EQ_INT(avail, 51234567ull * 1024);
    /* kernels before 3.14 have no MemAvailable: free + buffers + cached */
    const char old[] = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 300 kB\n";
    REQUIRE_OK(lqmf_hw_parse_meminfo(old, strlen(old), &total, &avail));
    CHECK_EQ_INT(avail, 420 * 1024);
    CHECK_ERR(lqmf_hw_parse_meminfo("MemFree: 1 kB\n", 14, &total, &avail), LQMF_E_FORMAT, "no MemTotal");
    const char bad[] = "MemTotal: 12x4 kB\n";
    CHECK_ERR(lqmf_hw_parse_meminfo(bad, strlen(bad), &total, &avail), LQMF_E_FORMAT, "MemTotal: bad value");
    const char huge[] = "MemTotal: 99999999999999999999 kB\n";
    CHECK_ERR(lqmf_hw_parse_meminfo(huge, strlen(huge), &total, &avail), LQMF_E_FORMAT, "bad value");
}

TEST(hw_parse_nvidia_smi) {
    lqmf_gpu g[4];
    size_t n;
    const char one[] = "NVIDIA H200, 143771, 0\n";
    REQUIRE_OK(lqmf_hw_parse_nvidia_smi(one, strlen(one), g, 4, &n));
    REQUIRE(n == 1);
    CHECK_STR(g[0].name, "NVIDIA H200");
    CHECK_EQ_INT(g[0].mem_total, 143771ull << 20);
    CHECK_EQ_INT(g[0].mem_used, 0);
    CHECK_EQ_INT(g[0].vendor, LQMF_GPU_NVIDIA);
    const char two[] = "NVIDIA GeForce RTX 3070, 8192, 512\r\n\nTesla V100-SXM2-16GB, 16160, 3\n";
    REQUIRE_OK(lqmf_hw_parse_nvidia_smi(two, strlen(two), g, 4, &n));
    REQUIRE(n == 2);
    CHECK_STR(g[0].name, "NVIDIA GeForce RTX 3070");
    CHECK_EQ_INT(g[0].mem_used, 512ull << 20);
    CHECK_STR(g[1].name, "Tesla V100-SXM2-16GB");
    const char comma[] = "Odd, Name, Inc, 4096, [N/A]\n";
    REQUIRE_OK(lqmf_hw_parse_nvidia_smi(comma, strlen(comma), g, 4, &n));
    CHECK_STR(g[0].name, "Odd, Name, Inc");
    CHECK_EQ_INT(g[0].mem_used, 0);
    REQUIRE_OK(lqmf_hw_parse_nvidia_smi("", 0, g, 4, &n));
    CHECK_EQ_INT(n, 0);
    const char broken[] = "NVIDIA A100, 40960, 0\nNVIDIA-SMI has failed because it couldn't communicate\n";
    CHECK_ERR(lqmf_hw_parse_nvidia_smi(broken, strlen(broken), g, 4, &n), LQMF_E_FORMAT, "line 2");
    CHECK_ERR(lqmf_hw_parse_nvidia_smi(", 1, 2\n", 7, g, 4, &n), LQMF_E_FORMAT, "empty GPU name");
    CHECK_ERR(lqmf_hw_parse_nvidia_smi("X, 1.5, 2\n", 10, g, 4, &n), LQMF_E_FORMAT, "line 1");
}

TEST(hw_parse_cpuinfo) {
    const char x86[] = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338\n"
                       "flags\t\t: fpu sse2 avx f16c fma avx2 avx512f avx512bw avx512_vnni\n\n"
                       "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Gold 6338\nflags\t\t: fpu\n";
    char model[128];
    uint32_t f;
    unsigned n;
    lqmf_hw_parse_cpuinfo(x86, strlen(x86), model, sizeof model, &f, &n);
    CHECK_STR(model, "Intel(R) Xeon(R) Gold 6338");
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(f, LQMF_CPU_AVX | LQMF_CPU_F16C | LQMF_CPU_FMA | LQMF_CPU_AVX2 | LQMF_CPU_AVX512F |
                        LQMF_CPU_AVX512BW | LQMF_CPU_AVX512VNNI);
    char names[128];
    CHECK_STR(lqmf_hw_feature_names(f, names, sizeof names),
              "AVX AVX2 FMA F16C AVX-512F AVX-512BW AVX-512VNNI");
    CHECK_STR(lqmf_hw_feature_names(0, names, sizeof names), "none");
    const char arm[] = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes asimddp sve\n"
                       "CPU implementer\t: 0x41\n\nHardware\t: Raspberry Pi 5\n";
    lqmf_hw_parse_cpuinfo(arm, strlen(arm), model, sizeof model, &f, &n);
    CHECK_STR(model, "Raspberry Pi 5");
    CHECK_EQ_INT(f, LQMF_CPU_NEON | LQMF_CPU_DOTPROD | LQMF_CPU_SVE);
    CHECK_EQ_INT(n, 1);
    lqmf_hw_parse_cpuinfo("", 0, model, sizeof model, &f, &n);
    CHECK_STR(model, "");
}

TEST(hw_probe_fake_tree) {
    const char *root = lqmf_test_tmpdir();
    write_file(root, "proc/meminfo", k_meminfo);
    write_file(root, "proc/cpuinfo", "processor : 0\nmodel name : Fake CPU\nflags : avx avx2\n");
    write_file(root, "sys/fs/cgroup/memory.max", "17179869184\n");
    write_file(root, "sys/fs/cgroup/memory.current", "1073741824\n");
    write_file(root, "sys/class/drm/card0/device/mem_info_vram_total", "17163091968\n");
    write_file(root, "sys/class/drm/card0/device/mem_info_vram_used", "1048576\n");
    write_file(root, "sys/class/drm/card0/device/vendor", "0x1002\n");
    write_file(root, "sys/class/drm/card0-DP-1/status", "connected\n");
    lqmf_hw hw;
    REQUIRE_OK(lqmf_hw_probe(&(lqmf_hw_opts){root, ""}, &hw));
    CHECK_EQ_INT(hw.ram_total, 16ull << 30); /* the cgroup limit is below MemTotal */
    CHECK(hw.ram_cgroup_limited);
    CHECK_EQ_INT(hw.ram_available, 15ull << 30);
    CHECK_STR(hw.cpu_model, "Fake CPU");
    CHECK_EQ_INT(hw.cpu_features, LQMF_CPU_AVX | LQMF_CPU_AVX2);
    CHECK_EQ_INT(hw.n_cpus, 1);
    CHECK_STR(hw.gpu_source, "sysfs");
    REQUIRE(hw.n_gpus == 1);
    CHECK_STR(hw.gpus[0].name, "AMD GPU (card0)");
    CHECK_EQ_INT(hw.gpus[0].vendor, LQMF_GPU_AMD);
    CHECK_EQ_INT(hw.gpus[0].mem_total, 17163091968ull);
    CHECK_EQ_INT(hw.gpus[0].mem_used, 1048576);

    /* the NVIDIA driver's proc files come before sysfs */
    write_file(root, "proc/driver/nvidia/gpus/0000:01:00.0/information",
               "Model: \t\t NVIDIA GeForce RTX 4090\nIRQ:   \t\t 150\n");
    REQUIRE_OK(lqmf_hw_probe(&(lqmf_hw_opts){root, ""}, &hw));
    CHECK_STR(hw.gpu_source, "/proc/driver/nvidia");
    CHECK_STR(hw.gpus[0].name, "NVIDIA GeForce RTX 4090");
    CHECK_EQ_INT(hw.gpus[0].mem_total, 0);

    /* and nvidia-smi before both: a stand-in program printing canned CSV */
    char smi[4096];
    snprintf(smi, sizeof smi, "%s/nvidia-smi", root);
    write_file(root, "nvidia-smi",
               "#!/bin/sh\ncase \"$1\" in --query-gpu=name,memory.total,memory.used) ;; *) exit 9;; esac\n"
               "echo 'NVIDIA H200, 143771, 1024'\n");
    chmod(smi, 0755);
    REQUIRE_OK(lqmf_hw_probe(&(lqmf_hw_opts){root, smi}, &hw));
    CHECK_STR(hw.gpu_source, "nvidia-smi");
    CHECK_STR(hw.gpus[0].name, "NVIDIA H200");
    CHECK_EQ_INT(hw.gpus[0].mem_used, 1024ull << 20);
    /* a failing nvidia-smi falls back */
    write_file(root, "nvidia-smi", "#!/bin/sh\necho 'NVIDIA-SMI has failed'\nexit 9\n");
    REQUIRE_OK(lqmf_hw_probe(&(lqmf_hw_opts){root, smi}, &hw));
    CHECK_STR(hw.gpu_source, "/proc/driver/nvidia");

    char empty[4096];
    snprintf(empty, sizeof empty, "%s/nothing", root);
    mkdir(empty, 0755);
    CHECK_ERR(lqmf_hw_probe(&(lqmf_hw_opts){empty, ""}, &hw), LQMF_E_NOT_FOUND, "meminfo");
}

TEST(hw_probe_live) {
    lqmf_hw hw;
    REQUIRE_OK(lqmf_hw_probe(NULL, &hw));
    struct sysinfo si;
    REQUIRE(sysinfo(&si) == 0);
    if (!hw.ram_cgroup_limited) CHECK_EQ_INT(hw.ram_total, (uint64_t)si.totalram * si.mem_unit);
    CHECK(hw.ram_available > 0 && hw.ram_available <= hw.ram_total);
    CHECK(hw.n_cpus >= 1 && hw.n_cpus <= (unsigned)sysconf(_SC_NPROCESSORS_CONF));
    CHECK(hw.cpu_model[0] != 0);
    CHECK(hw.gpu_source != NULL);
    for (size_t i = 0; i < hw.n_gpus; i++) CHECK(hw.gpus[i].name[0] != 0);
    /* the live feature bits agree with what the kernel lists in /proc/cpuinfo */
    char *text;
    size_t len;
    if (lqmf_read_file("/proc/cpuinfo", 8u << 20, &text, &len) == LQMF_OK) {
        char model[128];
        uint32_t f;
        unsigned n;
        lqmf_hw_parse_cpuinfo(text, len, model, sizeof model, &f, &n);
        const uint32_t both = LQMF_CPU_AVX2 | LQMF_CPU_FMA | LQMF_CPU_AVX512F | LQMF_CPU_NEON;
        CHECKF((hw.cpu_features & both) == (f & both), "live features %#x, cpuinfo %#x", hw.cpu_features, f);
        free(text);
    }
}

TEST(hw_disk_free) {
    uint64_t fr, total, fr2;
    REQUIRE_OK(lqmf_hw_disk_free(lqmf_test_tmpdir(), &fr, &total));
    CHECK(fr > 0 && fr <= total);
    char deep[4096];
    snprintf(deep, sizeof deep, "%s/not/yet/there", lqmf_test_tmpdir());
    REQUIRE_OK(lqmf_hw_disk_free(deep, &fr2, NULL));
    CHECK(fr2 > 0 && fr2 <= total);
    REQUIRE_OK(lqmf_hw_disk_free("relative-missing-dir", &fr2, NULL));
}
