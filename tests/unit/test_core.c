/* Core: half conversions against an independent double-precision formula,
 * buffers, atomic files, UTF-8 validation, type table. */
#include "../test.h"
#include "lqmf/core.h"
#include "lqmf/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* fp16 value from its bits by the IEEE formula, in double. */
static double fp16_ref(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0) v = ldexp(m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

TEST(core_fp16_all_values) {
    for (uint32_t h = 0; h < 65536; h++) {
        double want = fp16_ref((uint16_t)h);
        float got = lqmf_fp16_to_f32((uint16_t)h);
        if (isnan(want)) {
            CHECKF(isnan(got), "h=%04x", h);
            continue;
        }
        CHECKF((double)got == want, "h=%04x got %g want %g", h, (double)got, want);
        /* exact values round-trip to the same bits (except -0/+0 kept) */
        CHECKF(lqmf_f32_to_fp16(got) == h, "roundtrip h=%04x -> %04x", h, lqmf_f32_to_fp16(got));
        if (lqmf_test_failed()) return;
    }
}

TEST(core_fp16_rounding_nearest_even) {
    /* For random floats, the result is the nearest fp16 (ties to even). */
    srand(1);
    for (int i = 0; i < 200000; i++) {
        float f = (float)ldexp((double)rand() / RAND_MAX - 0.5, rand() % 40 - 26);
        uint16_t h = lqmf_f32_to_fp16(f);
        double got = fp16_ref(h), err = fabs(got - (double)f);
        /* neighbours must not be closer */
        double up = fp16_ref((uint16_t)(h + 1)), dn = h & 0x7fff ? fp16_ref((uint16_t)(h - 1)) : got;
        CHECKF(err <= fabs(up - (double)f) && err <= fabs(dn - (double)f), "f=%.9g h=%04x", (double)f, h);
        if (lqmf_test_failed()) return;
    }
    CHECK_EQ_INT(lqmf_f32_to_fp16(65520.0f), 0x7c00);
    CHECK_EQ_INT(lqmf_f32_to_fp16(65519.0f), 0x7bff);
    CHECK_EQ_INT(lqmf_f32_to_fp16(-0.0f), 0x8000);
    CHECK(isnan(lqmf_fp16_to_f32(lqmf_f32_to_fp16(NAN))));
}

TEST(core_bf16) {
    CHECK_EQ_INT(lqmf_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(lqmf_f32_to_bf16(1.00390625f), 0x3f80); /* tie -> even */
    CHECK_EQ_INT(lqmf_f32_to_bf16(1.01171875f), 0x3f82); /* tie -> even (up) */
    CHECK((double)lqmf_bf16_to_f32(0xc0a0) == -5.0);
    CHECK(isnan(lqmf_bf16_to_f32(lqmf_f32_to_bf16(NAN))));
}

TEST(core_buf) {
    lqmf_buf b;
    lqmf_buf_init(&b);
    for (int i = 0; i < 1000; i++) CHECK(lqmf_buf_printf(&b, "%d,", i));
    CHECK(lqmf_buf_zeros(&b, 3));
    CHECK_EQ_INT(b.len, 3890 + 3);
    CHECK(memcmp(b.data, "0,1,2,", 6) == 0);
    lqmf_buf_free(&b);
    lqmf_buf_free(NULL);
}

TEST(core_atomic_file) {
    char path[512];
    snprintf(path, sizeof path, "%s/out.bin", lqmf_test_tmpdir());
    lqmf_afile f;
    REQUIRE_OK(lqmf_afile_open(&f, path));
    CHECK(access(path, F_OK) != 0); /* nothing at the final path yet */
    CHECK_OK(lqmf_afile_write(&f, "hello", 5));
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s", f.tmp_path);
    CHECK(access(tmp, F_OK) == 0);
    CHECK_OK(lqmf_afile_commit(&f));
    CHECK(access(tmp, F_OK) != 0);
    char *data;
    size_t len;
    REQUIRE_OK(lqmf_read_file(path, 100, &data, &len));
    CHECK_EQ_INT(len, 5);
    CHECK(memcmp(data, "hello", 5) == 0);
    free(data);
    /* abort leaves the old file untouched and no temporary behind */
    REQUIRE_OK(lqmf_afile_open(&f, path));
    CHECK_OK(lqmf_afile_write(&f, "XX", 2));
    snprintf(tmp, sizeof tmp, "%s", f.tmp_path);
    lqmf_afile_abort(&f);
    CHECK(access(tmp, F_OK) != 0);
    REQUIRE_OK(lqmf_read_file(path, 100, &data, &len));
    CHECK_EQ_INT(len, 5);
    free(data);
    /* size limit is enforced with a message naming the file */
    CHECK_ERR(lqmf_read_file(path, 4, &data, &len), LQMF_E_FORMAT, "out.bin");
    CHECK_ERR(lqmf_read_file("/nonexistent/x", 4, &data, &len), LQMF_E_NOT_FOUND, "/nonexistent/x");
}

static void touch(const char *dir, const char *name) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) fputs("x", f), fclose(f);
}

/* A tree with nested folders, a hidden file and a link to a file outside:
 * all gone, the link's target kept; an absent path and a plain file too. */
TEST(core_remove_tree) {
    char base[400], root[512], sub[560], deep[600], outside[560], link[600];
    snprintf(base, sizeof base, "%s", lqmf_test_tmpdir());
    snprintf(root, sizeof root, "%s/rt", base);
    snprintf(sub, sizeof sub, "%s/a", root);
    snprintf(deep, sizeof deep, "%s/b", sub);
    snprintf(outside, sizeof outside, "%s/rt-keep", base);
    snprintf(link, sizeof link, "%s/link", sub);
    REQUIRE(mkdir(root, 0777) == 0 && mkdir(sub, 0777) == 0 && mkdir(deep, 0777) == 0);
    touch(root, "f1");
    touch(root, ".hidden");
    touch(deep, "f2");
    touch(base, "rt-keep");
    REQUIRE(symlink(outside, link) == 0);
    CHECK_OK(lqmf_remove_tree(root));
    CHECK(access(root, F_OK) != 0);
    CHECK(access(outside, F_OK) == 0);
    CHECK_OK(lqmf_remove_tree(root)); /* absent */
    CHECK_OK(lqmf_remove_tree(outside));
    CHECK(access(outside, F_OK) != 0);
}

TEST(core_utf8) {
    CHECK(lqmf_utf8_valid("abc", 3));
    CHECK(lqmf_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    CHECK(!lqmf_utf8_valid("\xc0\xaf", 2));          /* overlong */
    CHECK(!lqmf_utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
    CHECK(!lqmf_utf8_valid("\xe2\x82", 2));          /* truncated */
    CHECK(!lqmf_utf8_valid("\xff", 1));
    CHECK(!lqmf_utf8_valid("\xf4\x90\x80\x80", 4));  /* > U+10FFFF */
}

TEST(core_type_table) {
    uint64_t n;
    CHECK(lqmf_type_row_bytes(LQMF_TYPE_Q4_K, 4096, &n) && n == 16 * 144);
    CHECK(!lqmf_type_row_bytes(LQMF_TYPE_Q4_K, 100, &n));
    CHECK(lqmf_type_row_bytes(LQMF_TYPE_Q8_0, 64, &n) && n == 68);
    CHECK(lqmf_type_get(4) == NULL);
    CHECK(lqmf_type_get(LQMF_TYPE_COUNT) == NULL);
    lqmf_type t;
    CHECK(lqmf_type_from_name("q6_k", &t) && t == LQMF_TYPE_Q6_K);
    CHECK(!lqmf_type_from_name("Q7_K", &t));
    CHECK_NEAR(lqmf_type_bpw(LQMF_TYPE_Q6_K), 6.5625, 1e-12);
    CHECK_NEAR(lqmf_type_bpw(LQMF_TYPE_IQ4_XS), 4.25, 1e-12);
    CHECK(!lqmf_type_tensor_bytes(LQMF_TYPE_F32, UINT64_MAX / 2, UINT64_MAX / 2, &n));
}
