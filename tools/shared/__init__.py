"""What every host program in tools/ shares: where the repository and the project's
virtualenv tools are (paths), and the one refusal every program prints as one line and
exits 1 with (ToolError). Programs import from here instead of computing these again."""
