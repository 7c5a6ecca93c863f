using System.Collections.Concurrent;
using Gatehouse.Transport.Sockets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gatehouse.Host.Tests.Transport;

/// <summary>Work handed to an I/O thread (<see cref="ReadinessLoop.Post"/>) runs there, once, whether the loop sleeps or not.</summary>
public sealed class ReadinessLoopPostTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Work_posted_to_a_sleeping_loop_wakes_it_and_runs_on_its_thread()
    {
        var loop = ReadinessLoop.Next(NullLogger.Instance, TimeSpan.Zero);
        for (var i = 0; i < 3; i++)
        {
            // Long past any idle poll: the loop waits in epoll_wait without a timeout, so only the wake-up runs the work.
            await Task.Delay(200);
            var work = new RecordingWork();
            loop.Post(work);
            var thread = await work.Ran.Task.WaitAsync(Patience);
            Assert.StartsWith("gatehouse-io-", thread);
        }
    }

    [Fact]
    public async Task Work_posted_from_many_threads_at_once_runs_once_each()
    {
        var loop = ReadinessLoop.Next(NullLogger.Instance, TimeSpan.Zero);
        var runs = new ConcurrentDictionary<int, int>();
        const int PerThread = 2_000;
        var done = new CountdownEvent(4 * PerThread);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                var id = t * PerThread + i;
                loop.Post(new CountingWork(() =>
                {
                    runs.AddOrUpdate(id, 1, (_, n) => n + 1);
                    done.Signal();
                }));
            }
        })));
        Assert.True(done.Wait(Patience), $"{done.CurrentCount} of {4 * PerThread} posted items never ran");
        await Task.Delay(100);
        Assert.Equal(4 * PerThread, runs.Count);
        Assert.All(runs.Values, n => Assert.Equal(1, n));
    }

    private sealed class RecordingWork : IThreadPoolWorkItem
    {
        public TaskCompletionSource<string?> Ran { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Execute() => Ran.TrySetResult(Thread.CurrentThread.Name);
    }

    private sealed class CountingWork(Action run) : IThreadPoolWorkItem
    {
        public void Execute() => run();
    }
}
