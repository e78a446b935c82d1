{
  "targets": [
    {
      "target_name": "kiln_native",
      "sources": ["src/addon.cc", "src/child.cc", "src/childNetwork.cc", "src/childSpecCodec.cc", "src/network.cc", "src/directory.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "cflags_cc!": ["-fno-exceptions"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    },
    {
      "target_name": "kiln-start",
      "type": "executable",
      "sources": ["src/starter.cc", "src/child.cc", "src/childNetwork.cc", "src/childSpecCodec.cc"],
      "defines": ["_GNU_SOURCE"],
      "cflags_cc": ["-std=c++20", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "ldflags": ["-static"],
      "conditions": [
        ["OS!='linux'", {"type": "none"}],
        # On x86-64 kiln-start brings its own entry point and libc functions (starterRuntime.cc)
        # and links without libc: a static glibc program's start-up is most of kiln-start's
        # cost. C++20 lets std::string be instantiated here rather than taken from libstdc++.
        ["target_arch=='x64'", {"sources": ["src/starterRuntime.cc"], "ldflags": ["-nostdlib", "-no-pie"]}]
      ]
    },
    {
      "target_name": "kiln-init",
      "type": "executable",
      "sources": ["src/init.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "ldflags": ["-static"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
