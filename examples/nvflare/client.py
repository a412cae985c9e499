"""The trainer each NVFLARE client runs (Client API). sealpack is invisible here:
the task arrives opened by sealpack's filter and the result leaves sealed by it."""

import numpy as np
import nvflare.client as flare


def main() -> None:
    flare.init()
    site = flare.get_site_name()
    rng = np.random.default_rng(int(site.rsplit("-", 1)[-1]))
    while flare.is_running():
        model = flare.receive()
        for value in model.params.values():
            array = np.asarray(value)
            array += 0.01 * rng.standard_normal(array.shape).astype(array.dtype)  # "training"
        flare.send(
            flare.FLModel(
                params=model.params, metrics={"accuracy": 0.5}, meta={"NUM_STEPS_CURRENT_ROUND": 1}
            )
        )


if __name__ == "__main__":
    main()
