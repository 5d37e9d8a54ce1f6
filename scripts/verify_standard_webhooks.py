"""Verifies captured webhook deliveries with the Standard Webhooks reference library.

Input: a JSON file `[{"secret": "whsec_...", "headers": {...}, "body": "..."}, ...]`.
Every delivery must verify; one tampered copy of each must not. Prints how many were
checked; exits non-zero on the first failure. Run by `.ci/run` through the
`reference_implementation_verifies_our_signatures` test.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        deliveries = json.load(f)
    if not deliveries:
        print("no deliveries to verify", file=sys.stderr)
        return 1
    for d in deliveries:
        hook = Webhook(d["secret"])
        payload = hook.verify(d["body"], d["headers"])
        if payload.get("type") is None:
            print(f"verified, but the payload has no type: {payload}", file=sys.stderr)
            return 1
        try:
            hook.verify(d["body"] + " ", d["headers"])
        except WebhookVerificationError:
            pass
        else:
            print("a tampered body verified", file=sys.stderr)
            return 1
    print(f"standardwebhooks verified {len(deliveries)} deliveries")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
