"""What every host program in tools/ shares: where the repository and the project's
virtualenv tools are (paths), and the one refusal every program prints as one line and
exits 1 with (errors: ToolError, exit_status), and the reading of a JSON file a user hands
them (files.read_json). Programs import from here instead of computing these again."""
