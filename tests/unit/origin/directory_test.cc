#include "origin/directory.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using portico::core::ErrorKind;
using portico::origin::content_type_for;
using portico::origin::FileInfo;
using portico::origin::make_etag;
using portico::origin::resolve_path;

namespace {

// A scratch tree, removed when the test case ends:
//   <base>/root/{index.html, a.txt, %2e, with space.txt, sub/b.css, sub/deep/c.js, empty/}
//   <base>/root/{inside -> sub/b.css, subdir_link -> sub, escape -> ../outside/secret.txt,
//                outdir -> ../outside, sneaky -> ../root2/x, abs_escape -> /etc/passwd, fifo}
//   <base>/outside/secret.txt, <base>/root2/x
class Tree {
 public:
  Tree() {
    std::string tmpl = (fs::temp_directory_path() / "portico-dir-test-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    base_ = fs::canonical(tmpl);
    root_ = base_ / "root";
    fs::create_directories(root_ / "sub" / "deep");
    fs::create_directories(root_ / "empty");
    fs::create_directories(base_ / "outside");
    fs::create_directories(base_ / "root2");
    write(root_ / "index.html", "<h1>hi</h1>");
    write(root_ / "a.txt", "hello");
    write(root_ / "%2e", "literal percent name");
    write(root_ / "with space.txt", "spaced");
    write(root_ / "sub" / "b.css", "body{}");
    write(root_ / "sub" / "deep" / "c.js", "1;");
    write(base_ / "outside" / "secret.txt", "secret");
    write(base_ / "root2" / "x", "x");
    fs::create_symlink("sub/b.css", root_ / "inside");
    fs::create_directory_symlink("sub", root_ / "subdir_link");
    fs::create_symlink("../outside/secret.txt", root_ / "escape");
    fs::create_directory_symlink("../outside", root_ / "outdir");
    fs::create_symlink("../root2/x", root_ / "sneaky");
    fs::create_symlink("/etc/passwd", root_ / "abs_escape");
    fs::create_symlink("missing-target", root_ / "dangling");
    REQUIRE(mkfifo((root_ / "fifo").c_str(), 0600) == 0);
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }
  std::string root() const { return root_.string(); }
  std::string at(const fs::path& rel) const { return (root_ / rel).string(); }

 private:
  static void write(const fs::path& p, std::string_view data) {
    std::ofstream out(p, std::ios::binary);
    out << data;
  }
  fs::path base_;
  fs::path root_;
};

void require_not_found(const Tree& t, std::string_view url) {
  INFO("url: " << url);
  auto r = resolve_path(t.root(), url);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::NotFound);
}

std::string resolved(const Tree& t, std::string_view url) {
  INFO("url: " << url);
  auto r = resolve_path(t.root(), url);
  REQUIRE(r.ok());
  return r->path;
}

}  // namespace

TEST_CASE("directory: plain files and stat fields", "[directory]") {
  Tree t;
  auto r = resolve_path(t.root(), "/a.txt");
  REQUIRE(r.ok());
  CHECK(r->path == t.at("a.txt"));
  CHECK(r->size == 5);
  CHECK_FALSE(r->is_dir);
  struct stat st {};
  REQUIRE(stat(t.at("a.txt").c_str(), &st) == 0);
  CHECK(r->inode == st.st_ino);
  CHECK(r->mtime_sec == st.st_mtim.tv_sec);
  CHECK(r->mtime_nsec == st.st_mtim.tv_nsec);

  CHECK(resolved(t, "/sub/deep/c.js") == t.at("sub/deep/c.js"));
  CHECK(resolved(t, "/with%20space.txt") == t.at("with space.txt"));
  CHECK(resolved(t, "/%61.txt") == t.at("a.txt"));
  CHECK(resolved(t, "//sub///b.css") == t.at("sub/b.css"));  // duplicate slashes collapse
  require_not_found(t, "/nope.txt");
  require_not_found(t, "/A.txt");  // case-sensitive filesystem
}

TEST_CASE("directory: directories are returned for the caller to decide", "[directory]") {
  Tree t;
  auto r = resolve_path(t.root(), "/");
  REQUIRE(r.ok());
  CHECK(r->is_dir);
  CHECK(r->path == t.root());
  r = resolve_path(t.root(), "/sub");
  REQUIRE(r.ok());
  CHECK(r->is_dir);
  r = resolve_path(t.root(), "/sub/");
  REQUIRE(r.ok());
  CHECK(r->is_dir);
  CHECK(r->path == t.at("sub"));
  // A trailing slash on a regular file is not that file.
  require_not_found(t, "/a.txt/");
  // Root given with a trailing slash still works.
  r = resolve_path(t.root() + "/", "/a.txt");
  REQUIRE(r.ok());
  CHECK(r->path == t.at("a.txt"));
}

TEST_CASE("directory: traversal attempts are NotFound", "[directory]") {
  Tree t;
  for (std::string_view url : {"/../etc/passwd",
                               "/..",
                               "/.",
                               "/./a.txt",
                               "/sub/../a.txt",
                               "/sub/..",
                               "/%2e%2e/etc/passwd",
                               "/%2E%2E/outside/secret.txt",
                               "/%2e/a.txt",
                               "/.%2e/outside/secret.txt",
                               "/%2e./outside/secret.txt",
                               "/a/%2F..",
                               "/..%2f",
                               "/..%2Foutside/secret.txt",
                               "/sub%2fb.css",
                               "/sub%2Fb.css",
                               "/..%5coutside",
                               "/sub%5Cb.css",
                               "/sub\\b.css",
                               "/..\\outside",
                               "/a.txt%00",
                               "/a.txt%00.html",
                               "/%00",
                               "/../../../../../../etc/passwd",
                               "/sub/deep/../../../outside/secret.txt"}) {
    require_not_found(t, url);
  }
}

TEST_CASE("directory: bad percent-encoding is NotFound", "[directory]") {
  Tree t;
  for (std::string_view url : {"/%", "/%2", "/a%zz", "/%g0", "/a.txt%"}) require_not_found(t, url);
  require_not_found(t, "");
  require_not_found(t, "a.txt");  // not origin-form
}

TEST_CASE("directory: decoding happens exactly once", "[directory]") {
  Tree t;
  // "%252e" decodes to the literal name "%2e", never to ".".
  CHECK(resolved(t, "/%252e") == t.at("%2e"));
  require_not_found(t, "/%252e%252e/outside/secret.txt");
  require_not_found(t, "/%252f");
}

TEST_CASE("directory: symlinks inside the root are followed, escapes are not", "[directory]") {
  Tree t;
  CHECK(resolved(t, "/inside") == t.at("sub/b.css"));
  CHECK(resolved(t, "/subdir_link/deep/c.js") == t.at("sub/deep/c.js"));
  require_not_found(t, "/escape");
  require_not_found(t, "/outdir/secret.txt");
  require_not_found(t, "/outdir");
  require_not_found(t, "/sneaky");  // "<root>2/x" shares the root's prefix but is outside
  require_not_found(t, "/abs_escape");
  require_not_found(t, "/dangling");
}

TEST_CASE("directory: special files are NotFound", "[directory]") {
  Tree t;
  require_not_found(t, "/fifo");
}

TEST_CASE("directory: content types", "[directory]") {
  CHECK(content_type_for("/index.html") == "text/html; charset=utf-8");
  CHECK(content_type_for("/INDEX.HTM") == "text/html; charset=utf-8");
  CHECK(content_type_for("/a/b/app.JS") == "text/javascript; charset=utf-8");
  CHECK(content_type_for("/m.mjs") == "text/javascript; charset=utf-8");
  CHECK(content_type_for("/s.css") == "text/css; charset=utf-8");
  CHECK(content_type_for("/d.json") == "application/json");
  CHECK(content_type_for("/app.js.map") == "application/json");
  CHECK(content_type_for("/r.txt") == "text/plain; charset=utf-8");
  CHECK(content_type_for("/f.xml") == "application/xml");
  CHECK(content_type_for("/i.svg") == "image/svg+xml");
  CHECK(content_type_for("/i.png") == "image/png");
  CHECK(content_type_for("/i.Jpg") == "image/jpeg");
  CHECK(content_type_for("/i.jpeg") == "image/jpeg");
  CHECK(content_type_for("/i.gif") == "image/gif");
  CHECK(content_type_for("/i.webp") == "image/webp");
  CHECK(content_type_for("/i.avif") == "image/avif");
  CHECK(content_type_for("/favicon.ico") == "image/x-icon");
  CHECK(content_type_for("/f.woff") == "font/woff");
  CHECK(content_type_for("/f.woff2") == "font/woff2");
  CHECK(content_type_for("/f.ttf") == "font/ttf");
  CHECK(content_type_for("/f.otf") == "font/otf");
  CHECK(content_type_for("/f.eot") == "application/vnd.ms-fontobject");
  CHECK(content_type_for("/d.pdf") == "application/pdf");
  CHECK(content_type_for("/a.zip") == "application/zip");
  CHECK(content_type_for("/a.tar.gz") == "application/gzip");
  CHECK(content_type_for("/m.wasm") == "application/wasm");
  CHECK(content_type_for("/v.mp4") == "video/mp4");
  CHECK(content_type_for("/v.webm") == "video/webm");
  CHECK(content_type_for("/s.mp3") == "audio/mpeg");
  CHECK(content_type_for("/s.wav") == "audio/wav");
  CHECK(content_type_for("/s.ogg") == "audio/ogg");
  CHECK(content_type_for("/t.csv") == "text/csv; charset=utf-8");
  CHECK(content_type_for("/README.md") == "text/markdown; charset=utf-8");
  CHECK(content_type_for("/c.yaml") == "application/yaml");
  CHECK(content_type_for("/c.yml") == "application/yaml");
  CHECK(content_type_for("/site.webmanifest") == "application/manifest+json");
  // Unknown, missing, dotfiles, dots in folder names, overlong extensions.
  CHECK(content_type_for("/a.unknownext") == "application/octet-stream");
  CHECK(content_type_for("/Makefile") == "application/octet-stream");
  CHECK(content_type_for("/.bashrc") == "application/octet-stream");
  CHECK(content_type_for("/v1.2/readme") == "application/octet-stream");
  CHECK(content_type_for("/a.") == "application/octet-stream");
  CHECK(content_type_for("/a.abcdefghijklmnopqrstuvwxyz") == "application/octet-stream");
  CHECK(content_type_for("") == "application/octet-stream");
  CHECK(content_type_for("index.html") == "text/html; charset=utf-8");
}

TEST_CASE("directory: etag is nginx-style and strong", "[directory]") {
  FileInfo info;
  info.mtime_sec = 0x5f5e1000;
  info.size = 0x1234;
  CHECK(make_etag(info) == "\"5f5e1000-1234\"");
  info.size = 0;
  info.mtime_sec = 0;
  CHECK(make_etag(info) == "\"0-0\"");

  Tree t;
  auto r = resolve_path(t.root(), "/a.txt");
  REQUIRE(r.ok());
  std::string etag = make_etag(*r);
  CHECK(etag.front() == '"');
  CHECK(etag.back() == '"');
  CHECK(etag.find("-5\"") != std::string::npos);
}
