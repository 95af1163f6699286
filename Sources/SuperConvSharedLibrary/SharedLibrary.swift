// This target carries libsuperconv.so's link settings (static Swift runtime, version script,
// SONAME) so that programs linking the SuperConv target directly, like the CLI, do not inherit
// them. It has no code of its own.
