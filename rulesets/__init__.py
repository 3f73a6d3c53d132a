"""Built-in rule packs (YAML data) and the plugin that registers them."""
