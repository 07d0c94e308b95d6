pytest_plugins = ["shared.testing.fixtures", "tests.live"]
