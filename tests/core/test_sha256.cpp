// SHA-256 against FIPS 180-4's example digests and a digest PROVENANCE.md lists for a data file.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/io/sha256.h"

namespace kiln::io {
namespace {

TEST(Sha256, KnownDigests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the padding spills into a second block.
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, MatchesTheDataProvenance) {
  const std::string f = std::string(KILN_SHARED_DATA) + "/bbh/cot-prompts/sports_understanding.txt";
  if (!std::filesystem::exists(f)) GTEST_SKIP() << "no BBH data at " << f;
  // bbh/PROVENANCE.md's sha256 of this file.
  EXPECT_EQ(sha256_file(f), "2058a9bed717a6edb8ca2f815e88851436a4ee14c8b0d504ccf464865c6d0295");
}

}  // namespace
}  // namespace kiln::io
