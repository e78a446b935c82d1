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
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "ldflags": ["-static"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
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
