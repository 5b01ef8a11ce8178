"""`portico check -c FILE`, `--help`, `--version`: valid configs exit 0; invalid ones exit 2 with
FILE:LINE:COL and the key path on stderr."""

import os
import re

import harness as h


class ConfigCheckTest(h.PorticoTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = h.make_tmpdir(self)
        self.site = os.path.join(self.tmp, "site")
        os.makedirs(self.site)

    def write(self, text, name="portico.yaml"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def valid(self):
        q = h.yaml_str
        return f"""server:
  client_header_timeout: 2s
  idle_timeout: 5s
  shutdown_timeout: 10s
  max_header_bytes: 8KiB
  max_body_bytes: 0
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
  - {{ name: http2, address: "127.0.0.1:0", protocol: HTTP }}
distributions:
  - id: web
    aliases: [localhost, "*.example.test"]
    default_root_object: index.html
    origins:
      - {{ id: site, directory_origin: {{ path: {q(self.site)} }} }}
      - {{ id: api, custom_origin: {{ url: "http://127.0.0.1:9", origin_path: /v1, origin_read_timeout: 2s, connection_timeout: 2s, connection_attempts: 1 }} }}
    default_cache_behavior: {{ target_origin_id: site }}
    cache_behaviors:
      - {{ path_pattern: "/api/*", target_origin_id: api, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }}
  - id: other
    aliases: [other.test]
    origins: [ {{ id: o, custom_origin: {{ url: "http://127.0.0.1:10" }} }} ]
    default_cache_behavior: {{ target_origin_id: o }}
admin: {{ address: "127.0.0.1:0", token_env: PORTICO_ADMIN_TOKEN }}
access_log: {{ enabled: true, path: {q(os.path.join(self.tmp, "access.log"))} }}
"""

    def check(self, text):
        path = self.write(text)
        return path, h.run_portico(["check", "-c", path])

    @staticmethod
    def line_of(text, needle, occurrence=1):
        n = 0
        for i, line in enumerate(text.splitlines(), 1):
            if needle in line:
                n += 1
                if n == occurrence:
                    return i
        raise AssertionError(f"{needle!r} not in config")

    def assert_invalid(self, text, line=None, contains=()):
        path, res = self.check(text)
        self.assertEqual(res.returncode, 2, f"stdout={res.stdout!r} stderr={res.stderr!r}")
        m = re.search(re.escape(path) + r":(\d+):(\d+):", res.stderr)
        self.assertIsNotNone(m, f"no {path}:LINE:COL: in stderr: {res.stderr!r}")
        if line is not None:
            self.assertEqual(int(m.group(1)), line, res.stderr)
        self.assertGreaterEqual(int(m.group(2)), 1)
        for c in contains:
            self.assertIn(c, res.stderr)
        return res

    # -- CLI -----------------------------------------------------------------------------------
    def test_help(self):
        res = h.run_portico(["--help"])
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertRegex((res.stdout + res.stderr).lower(), r"usage")
        self.assertIn("-c", res.stdout + res.stderr)

    def test_version(self):
        res = h.run_portico(["--version"])
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertRegex(res.stdout + res.stderr, r"\d+\.\d+\.\d+")

    # -- valid ----------------------------------------------------------------------------------
    def test_valid_config(self):
        path, res = self.check(self.valid())
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_minimal_config(self):
        path, res = self.check("""listeners:
  - { name: http, address: "127.0.0.1:0" }
distributions:
  - id: web
    origins: [ { id: o, custom_origin: { url: "http://127.0.0.1:8080" } } ]
    default_cache_behavior: { target_origin_id: o }
""")
        self.assertEqual(res.returncode, 0, res.stderr)

    # -- invalid ----------------------------------------------------------------------------------
    def test_unknown_key(self):
        text = self.valid().replace("  idle_timeout: 5s\n", "  idle_timeout: 5s\n  bogus_key: 1\n")
        self.assert_invalid(text, line=self.line_of(text, "bogus_key"), contains=("bogus_key",))

    def test_unknown_key_in_origin(self):
        text = self.valid().replace("origin_path: /v1,", "origin_path: /v1, colour: blue,")
        self.assert_invalid(text, line=self.line_of(text, "colour"), contains=("colour",))

    def test_bad_url(self):
        text = self.valid().replace('"http://127.0.0.1:9"', '"http//no-scheme"')
        self.assert_invalid(text, line=self.line_of(text, "http//no-scheme"),
                            contains=("distributions[0].origins[1].custom_origin.url",))

    def test_bad_url_first_origin(self):
        text = self.valid().replace('"http://127.0.0.1:10"', '"ftp://127.0.0.1:10"')
        self.assert_invalid(text, line=self.line_of(text, "ftp://"),
                            contains=("distributions[1].origins[0].custom_origin.url",))

    def test_duplicate_listener_name(self):
        text = self.valid().replace("name: http2,", "name: http,")
        self.assert_invalid(text, line=self.line_of(text, "name: http,", occurrence=2),
                            contains=("listeners[1]",))

    def test_yaml_syntax_error(self):
        text = self.valid().replace("aliases: [other.test]", "aliases: [other.test")
        self.assert_invalid(text)

    def test_tab_indentation_error(self):
        text = self.valid().replace("  idle_timeout: 5s", "\tidle_timeout: 5s")
        self.assert_invalid(text)

    def test_read_timeout_below_minimum(self):
        text = self.valid().replace("origin_read_timeout: 2s", "origin_read_timeout: 500ms")
        self.assert_invalid(text, line=self.line_of(text, "500ms"),
                            contains=("distributions[0].origins[1].custom_origin.origin_read_timeout",))

    def test_connection_timeout_out_of_range(self):
        text = self.valid().replace("connection_timeout: 2s", "connection_timeout: 11s")
        self.assert_invalid(text, line=self.line_of(text, "11s"),
                            contains=("connection_timeout",))

    def test_connection_attempts_out_of_range(self):
        for bad in ("0", "4"):
            text = self.valid().replace("connection_attempts: 1", f"connection_attempts: {bad}")
            self.assert_invalid(text, line=self.line_of(text, "connection_attempts"),
                                contains=("connection_attempts",))

    def test_unknown_target_origin(self):
        text = self.valid().replace("target_origin_id: api,", "target_origin_id: nope,")
        self.assert_invalid(text, line=self.line_of(text, "target_origin_id: nope"),
                            contains=("target_origin_id",))

    def test_missing_file(self):
        res = h.run_portico(["check", "-c", os.path.join(self.tmp, "does-not-exist.yaml")])
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("does-not-exist.yaml", res.stderr)

    def test_serving_an_invalid_config_fails_fast(self):
        text = self.valid().replace('"http://127.0.0.1:9"', '"http//no-scheme"')
        path = self.write(text)
        res = h.run_portico(["-c", path, "--workers", "1"], timeout=20)
        self.assertNotEqual(res.returncode, 0)
        self.assertNotIn("ready pid=", res.stderr)
        self.assertIn("distributions[0].origins[1].custom_origin.url", res.stderr)


if __name__ == "__main__":
    h.run_main()
