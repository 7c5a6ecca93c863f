using Gatehouse.Broker.Diagnostics;

namespace Gatehouse.Broker.Tests.Durability;

/// <summary>The barrier an acknowledgement waits on: nothing pending, one submission (held alone), several.</summary>
public sealed class DurabilityBarrierTests
{
    [Fact]
    public void Submissions_already_durable_leave_it_empty_and_the_acknowledgement_goes_at_once()
    {
        var barrier = new DurabilityBarrier();
        barrier.Add(ValueTask.CompletedTask);
        barrier.Add(new ValueTask(Task.CompletedTask));

        Assert.True(barrier.IsEmpty);
        Assert.True(barrier.WhenDurable().IsCompletedSuccessfully);
    }

    [Fact]
    public async Task One_pending_submission_is_waited_for_and_its_failure_comes_through()
    {
        var pending = new TaskCompletionSource();
        var barrier = new DurabilityBarrier();
        barrier.Add(new ValueTask(pending.Task));

        Assert.False(barrier.IsEmpty);
        var durable = barrier.WhenDurable();
        Assert.False(durable.IsCompleted);
        pending.SetException(new InvalidOperationException("disk full"));
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => durable);
        Assert.Equal("disk full", failure.Message);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Several_pending_submissions_are_all_waited_for_the_first_included(int count)
    {
        var pending = Enumerable.Range(0, count).Select(_ => new TaskCompletionSource()).ToArray();
        var barrier = new DurabilityBarrier();
        foreach (var submission in pending) barrier.Add(new ValueTask(submission.Task));

        var durable = barrier.WhenDurable();
        // Completing all but the first must not release it: the first was held alone before the others came.
        foreach (var submission in pending.Skip(1)) submission.SetResult();
        await Task.Delay(20);
        Assert.False(durable.IsCompleted);
        pending[0].SetResult();
        await durable.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_failure_among_several_fails_the_barrier()
    {
        var first = new TaskCompletionSource();
        var second = new TaskCompletionSource();
        var barrier = new DurabilityBarrier();
        barrier.Add(new ValueTask(first.Task));
        barrier.Add(new ValueTask(second.Task));

        first.SetResult();
        second.SetException(new InvalidOperationException("read-only"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => barrier.WhenDurable());
    }

    [Fact]
    public void Backpressure_holds_the_room_signals_alone_and_the_acknowledgement_waits_for_both()
    {
        // A QoS 0 publisher's next read waits for slow subscribers only, never for a store commit; a QoS 1/2
        // acknowledgement waits for both.
        var store = new TaskCompletionSource();
        var room = new TaskCompletionSource();
        var otherRoom = new TaskCompletionSource();
        var barrier = new DurabilityBarrier();
        barrier.Add(new ValueTask(store.Task));
        barrier.AddBackpressure(room.Task);
        barrier.AddBackpressure(otherRoom.Task);
        barrier.AddBackpressure(Task.CompletedTask);

        var backpressure = barrier.Backpressure!;
        var durable = barrier.WhenDurable();
        room.SetResult();
        Assert.False(backpressure.IsCompleted);
        otherRoom.SetResult();
        Assert.True(backpressure.IsCompletedSuccessfully);
        Assert.False(durable.IsCompleted);
        store.SetResult();
        Assert.True(durable.IsCompletedSuccessfully);
    }

    [Fact]
    public void Without_slow_subscribers_there_is_no_backpressure_even_while_the_store_is_pending()
    {
        var barrier = new DurabilityBarrier();
        barrier.Add(new ValueTask(new TaskCompletionSource().Task));
        barrier.AddBackpressure(Task.CompletedTask);
        Assert.Null(barrier.Backpressure);
    }
}
