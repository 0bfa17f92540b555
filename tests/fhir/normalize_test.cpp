#include <gtest/gtest.h>

#include "fhir/index.hpp"

namespace carnet::fhir {
namespace {

TEST(NormalizeStringTest, LowerCaseAndTrim) {
    EXPECT_EQ(NormalizeString("  Dupont \t\n"), "dupont");
    EXPECT_EQ(NormalizeString("MAC Donald"), "mac donald");
    EXPECT_EQ(NormalizeString(""), "");
    EXPECT_EQ(NormalizeString("   "), "");
    EXPECT_EQ(NormalizeString("\xC2\xA0"
                              "Jean\xC2\xA0Paul\xC2\xA0"),
              "jean paul");  // no-break spaces
}

TEST(NormalizeStringTest, FoldsLatin1Accents) {
    EXPECT_EQ(NormalizeString("Élodie"), "elodie");
    EXPECT_EQ(NormalizeString("François"), "francois");
    EXPECT_EQ(NormalizeString("Hélène Ñúñez Ångström Øster"), "helene nunez angstrom oster");
    EXPECT_EQ(NormalizeString("ÀÁÂÃÄÅàáâãäå"), "aaaaaaaaaaaa");
    EXPECT_EQ(NormalizeString("Straße"), "strasse");
    EXPECT_EQ(NormalizeString("Æsir æ Þór"), "aesir ae thor");
    EXPECT_EQ(NormalizeString("ÿ Ý"), "y y");
    EXPECT_EQ(NormalizeString("2×3÷4"), "2×3÷4");  // not letters
}

TEST(NormalizeStringTest, FoldsLatinExtendedA) {
    EXPECT_EQ(NormalizeString("Łódź"), "lodz");
    EXPECT_EQ(NormalizeString("Dvořák Škoda Žižek"), "dvorak skoda zizek");
    EXPECT_EQ(NormalizeString("Œuvre cœur"), "oeuvre coeur");
    EXPECT_EQ(NormalizeString("Ĳssel"), "ijssel");
    EXPECT_EQ(NormalizeString("Ğüneş Ţara Őrs Ű"), "gunes tara ors u");
    EXPECT_EQ(NormalizeString("ĀāĒēĪīŌōŪū"), "aaeeiioouu");
    EXPECT_EQ(NormalizeString("Đđ Ħħ ı ſ"), "dd hh i s");
}

TEST(NormalizeStringTest, DropsCombiningMarks) {
    EXPECT_EQ(NormalizeString("E\xCC\x81lodie"), "elodie");  // E + U+0301
}

TEST(NormalizeStringTest, KeepsOtherScriptsAndBadBytes) {
    EXPECT_EQ(NormalizeString("Ωmega 東京"), "Ωmega 東京");
    EXPECT_EQ(NormalizeString("A\xFF"
                              "B"),
              "a\xFF"
              "b");
    EXPECT_EQ(NormalizeString("\xC3"), "\xC3");          // truncated sequence
    EXPECT_EQ(NormalizeString("\xC0\x80"), "\xC0\x80");  // overlong NUL
}

}  // namespace
}  // namespace carnet::fhir
