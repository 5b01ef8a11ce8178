#include "routing/path_pattern.h"

#include <catch2/catch.hpp>
#include <string>

using portico::routing::glob_match;
using portico::routing::PathPattern;

namespace {
bool m(std::string_view pattern, std::string_view path) {
  return PathPattern(pattern).matches(path);
}
}  // namespace

TEST_CASE("path pattern: compiled kinds", "[path_pattern]") {
  CHECK(PathPattern("/index.html").kind() == PathPattern::Kind::Exact);
  CHECK(PathPattern("*").kind() == PathPattern::Kind::Any);
  CHECK(PathPattern("**").kind() == PathPattern::Kind::Any);
  CHECK(PathPattern("/images/*").kind() == PathPattern::Kind::Prefix);
  CHECK(PathPattern("/*").kind() == PathPattern::Kind::Prefix);
  CHECK(PathPattern("*.jpg").kind() == PathPattern::Kind::Suffix);
  CHECK(PathPattern("/images/*.jpg").kind() == PathPattern::Kind::PrefixSuffix);
  CHECK(PathPattern("/a/*/b/*.png").kind() == PathPattern::Kind::Glob);
  CHECK(PathPattern("/img?.png").kind() == PathPattern::Kind::Glob);
  CHECK(PathPattern("/a/***").pattern() == "/a/*");
}

TEST_CASE("path pattern: exact", "[path_pattern]") {
  CHECK(m("/index.html", "/index.html"));
  CHECK_FALSE(m("/index.html", "/index.htm"));
  CHECK_FALSE(m("/index.html", "/index.html/"));
  CHECK_FALSE(m("/index.html", "/Index.html"));  // case-sensitive
  CHECK(m("", "/"));
}

TEST_CASE("path pattern: leading slash is optional", "[path_pattern]") {
  CHECK(PathPattern("images/*").pattern() == "/images/*");
  CHECK(m("images/*", "/images/a.png"));
  CHECK_FALSE(m("images/*", "images/a.png"));
  CHECK(m("index.html", "/index.html"));
  // A leading '*' already absorbs the '/'.
  CHECK(PathPattern("*.jpg").pattern() == "*.jpg");
  CHECK(m("*.jpg", "/a.jpg"));
  CHECK(m("*/a", "/a"));
}

TEST_CASE("path pattern: star matches across slashes, including empty runs", "[path_pattern]") {
  CHECK(m("/images/*", "/images/"));
  CHECK(m("/images/*", "/images/a/b/c.png"));
  CHECK_FALSE(m("/images/*", "/images"));
  CHECK_FALSE(m("/images/*", "/IMAGES/a.png"));
  CHECK(m("*", ""));
  CHECK(m("*", "/anything/at/all"));
  CHECK(m("/*", "/"));
  CHECK(m("*.jpg", "/a/b/c.jpg"));
  CHECK(m("*.jpg", ".jpg"));
  CHECK_FALSE(m("*.jpg", "/a.JPG"));
  CHECK_FALSE(m("*.jpg", "/a.jpg?x=1"));  // the query is never part of the path
  CHECK(m("/images/*.jpg", "/images/.jpg"));
  CHECK(m("/images/*.jpg", "/images/x/y.jpg"));
  CHECK_FALSE(m("/images/*.jpg", "/images.jpg"));  // prefix and suffix may not overlap
  CHECK_FALSE(m("/ab*ba", "/aba"));
  CHECK(m("/ab*ba", "/abba"));
}

TEST_CASE("path pattern: question mark is exactly one character", "[path_pattern]") {
  CHECK(m("/img?.png", "/img1.png"));
  CHECK(m("/img?.png", "/img/.png"));
  CHECK_FALSE(m("/img?.png", "/img.png"));
  CHECK_FALSE(m("/img?.png", "/img12.png"));
  CHECK(m("/???", "/abc"));
  CHECK_FALSE(m("/???", "/ab"));
}

TEST_CASE("path pattern: general glob backtracking", "[path_pattern]") {
  CHECK(m("/a/*/b/*.png", "/a/x/b/y.png"));
  CHECK(m("/a/*/b/*.png", "/a/x/b/c/b/y.png"));
  CHECK_FALSE(m("/a/*/b/*.png", "/a/x/c/y.png"));
  CHECK(m("/*a*b*c", "/xxaxxbxxc"));
  CHECK_FALSE(m("/*a*b*c", "/xxaxxcxxb"));
  CHECK(m("/*?", "/x"));
  CHECK_FALSE(m("/*?", "/"));
  CHECK(m("/api/v?/*", "/api/v2/users"));
  CHECK(m("/%2e*", "/%2e%2e"));  // percent-encoded bytes match literally
}

TEST_CASE("path pattern: pathological input stays fast", "[path_pattern]") {
  std::string path = "/" + std::string(20000, 'a');
  std::string pattern = "/*a*a*a*a*a*a*a*a*a*a*b";
  CHECK_FALSE(m(pattern, path));
  CHECK(m(pattern, path + "b"));
}

TEST_CASE("glob_match: raw semantics", "[path_pattern]") {
  CHECK(glob_match("", ""));
  CHECK_FALSE(glob_match("", "a"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("a*", "a"));
  CHECK_FALSE(glob_match("?", ""));
  CHECK(glob_match("*?*", "x"));
}
