"""The trainer every simulated client runs (NVFLARE Client API, in process).

It updates the received arrays IN PLACE (a trainer that writes into the arrays it
was given fails if sealpack hands back read-only views) and adds a site-specific
step, so every client's result has its own recognizable bytes.
"""

import numpy as np
import nvflare.client as flare


def main() -> None:
    flare.init()
    site = flare.get_site_name()
    step = 0.25 * int(site.rsplit("-", 1)[-1])
    while flare.is_running():
        model = flare.receive()
        params = model.params
        for value in params.values():
            array = np.asarray(value)
            array += step  # in place: needs a writable array
        flare.send(
            flare.FLModel(
                params=params, metrics={"accuracy": step}, meta={"NUM_STEPS_CURRENT_ROUND": 1}
            )
        )


if __name__ == "__main__":
    main()
