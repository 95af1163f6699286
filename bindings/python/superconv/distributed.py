"""The ranks of data-parallel training: the all-reduce a Trainer calls between backward and
update, over an MPI communicator (mpi4py) or any object with an all-reduce."""
import sys


class Ranks:
    """The processes a data-parallel Trainer trains with. `comm` is an mpi4py communicator
    (whose buffer Allreduce sums in place), or any object with `rank`, `size` and
    `allreduce(array)` returning the element-wise sum over the ranks (the form of mpi4py's
    lowercase allreduce)."""

    def __init__(self, comm):
        self.comm = comm
        self.rank = int(comm.Get_rank() if hasattr(comm, "Get_rank") else comm.rank)
        self.size = int(comm.Get_size() if hasattr(comm, "Get_size") else comm.size)
        self._in_place = None
        if hasattr(comm, "Allreduce"):
            from mpi4py import MPI
            self._in_place = MPI.IN_PLACE

    def sum(self, array):
        """Replaces a numpy array by its element-wise sum over the ranks."""
        if self._in_place is not None:
            self.comm.Allreduce(self._in_place, array)
        else:
            array[...] = self.comm.allreduce(array)

    def abort(self, message):
        """Ends every rank of the job (where the communicator can), after saying why: a rank
        that stops alone would leave the others waiting in their next all-reduce."""
        print(f"rank {self.rank} of {self.size}: {message}; ending the job", file=sys.stderr, flush=True)
        if hasattr(self.comm, "Abort"):
            self.comm.Abort(1)
