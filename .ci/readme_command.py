"""Print one of the README's two commands (`run` or `test`).

The README marks each with an HTML comment on the line before its code
block: <!-- command: run --> / <!-- command: test -->.
"""

import re
import sys
from pathlib import Path

which = sys.argv[1]
text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
m = re.search(rf"<!-- command: {which} -->\s*```(?:sh|bash)?\n(.+?)\n```", text, re.S)
if not m:
    sys.exit(f"README.md has no '<!-- command: {which} -->' block")
print(m.group(1).strip())
