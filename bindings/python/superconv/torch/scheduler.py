"""A superconv Schedule driving a torch.optim optimizer."""
from .. import Schedule


class ScheduleLR:
    """Sets every parameter group's learning rate, and its momentum (SGD's `momentum`, or beta1
    of Adam-style `betas`) unless cycle_momentum=False (OneCycleLR's name for it), from a
    superconv Schedule (or the keys of one: `momentum` is the schedule's), as PyTorch's
    schedulers do: the values of iteration 0 at construction, those of the next iteration at
    each step(), called after optimizer.step().

        scheduler = ScheduleLR(optimizer, policy="onecycle", base_lr=0.1, max_lr=1, stepsize=450, max_iter=1000)

    state_dict()/load_state_dict() save and restore its position and schedule; as with
    PyTorch's schedulers, the optimizer's own state_dict holds the values last set. It follows
    PyTorch's scheduler protocol (step, get_last_lr, last_epoch, state_dict) without subclassing
    torch.optim.lr_scheduler.LRScheduler, so that it needs no PyTorch itself.
    """

    def __init__(self, optimizer, schedule=None, cycle_momentum=True, **keys):
        self.optimizer = optimizer
        self.schedule = schedule if isinstance(schedule, Schedule) else Schedule(schedule, **keys)
        self.sets_momentum = bool(cycle_momentum)
        if self.sets_momentum:
            for index, group in enumerate(optimizer.param_groups):
                if "momentum" not in group and "betas" not in group:
                    raise ValueError(f"parameter group {index} has neither momentum nor betas; "
                                     "pass cycle_momentum=False to set the learning rate only")
        self.last_epoch = -1
        self._last_lr = []
        self.step()

    def step(self):
        """Moves to the next iteration and sets its values."""
        self.last_epoch += 1
        lr, momentum = self.schedule(self.last_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            if self.sets_momentum:
                if "betas" in group:
                    group["betas"] = (momentum,) + tuple(group["betas"][1:])
                else:
                    group["momentum"] = momentum
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        return {"last_epoch": self.last_epoch, "schedule": self.schedule.spec, "momentum": self.sets_momentum}

    def load_state_dict(self, state):
        self.schedule = Schedule(state["schedule"])
        self.last_epoch = int(state["last_epoch"])
        self.sets_momentum = bool(state["momentum"])
        self._last_lr = [self.schedule(self.last_epoch)[0]] * len(self.optimizer.param_groups)
