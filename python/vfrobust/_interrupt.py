"""Long calls that Ctrl-C can interrupt.

None of the library calls the package makes (vfr_model_embed_images,
vfr_robustness_compute) takes a cancel callback, and Python delivers KeyboardInterrupt
only to the main thread once it runs bytecode again. So long work is cut into short C calls
(a batch of images, a block of rows) run in worker threads (ctypes releases the GIL, so they
also run in parallel), while the main thread waits in short timed waits. On Ctrl-C the
main thread sets a stop flag and raises KeyboardInterrupt at once; the workers finish the
C call they are in (they hold every buffer it uses) and start no other.
"""
import threading
from concurrent.futures import ThreadPoolExecutor, wait, FIRST_EXCEPTION


def run_chunks(fn, chunks, workers=1):
    """Calls fn(chunk, stop) for every chunk in `workers` threads and waits for all, re-raising
    the first exception. stop is a threading.Event that fn checks between C calls."""
    stop = threading.Event()
    chunks = list(chunks)
    if not chunks:
        return
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(chunks))))
    try:
        futures = [pool.submit(_guarded, fn, c, stop) for c in chunks]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
            for f in done:
                if f.exception() is not None:
                    stop.set()
                    raise f.exception()
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _guarded(fn, chunk, stop):
    if stop.is_set():
        return None
    return fn(chunk, stop)
