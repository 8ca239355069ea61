"""The app's modal dialogs (each dismisses with the answer)."""
