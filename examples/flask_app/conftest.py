"""The project's root, as a team's suite has it: pytest puts this folder on sys.path, so the
tests import the app (`reminders`) as its own code would."""
