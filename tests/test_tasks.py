import asyncio

from memory_server import tasks


async def swallows_cancels(count: int, cancels: list[int]) -> None:
    """Behaves like a task inside Python 3.11's asyncio.wait_for when a cancel and the awaited result coincide."""
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancels.append(1)
            if len(cancels) > count:
                raise


async def test_a_task_that_swallowed_its_cancel_is_cancelled_again_until_it_ends():
    cancels: list[int] = []
    stubborn = asyncio.create_task(swallows_cancels(2, cancels))
    plain = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    stopper = asyncio.create_task(tasks.stop([stubborn, plain]))
    await asyncio.wait({stopper}, timeout=10)  # the stop it replaces awaited the stubborn task forever
    try:
        assert stopper.done() and stubborn.cancelled() and plain.cancelled()
        assert len(cancels) == 3
    finally:
        stopper.cancel()
        while not stubborn.done():
            stubborn.cancel()
            await asyncio.sleep(0)


async def test_stopping_reports_a_task_that_had_failed_and_skips_finished_ones(caplog):
    async def fails() -> None:
        raise ValueError("boom")

    failed = asyncio.create_task(fails(), name="failing")
    done = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await tasks.stop([failed, done])
    assert done.done() and not done.cancelled()
    assert "failing" in caplog.text and "boom" in caplog.text


async def test_a_shutdown_runs_to_its_end_when_its_caller_is_cancelled_and_the_cancel_goes_on():
    steps: list[str] = []

    async def shutdown() -> None:
        for step in ("workers", "webhooks", "database"):
            await asyncio.sleep(0.01)
            steps.append(step)

    caller = asyncio.create_task(tasks.finish(shutdown()))
    await asyncio.sleep(0.015)
    caller.cancel()  # what asyncio.run does on Ctrl-C while the service closes
    await asyncio.wait({caller})
    assert caller.cancelled()
    assert steps == ["workers", "webhooks", "database"]
