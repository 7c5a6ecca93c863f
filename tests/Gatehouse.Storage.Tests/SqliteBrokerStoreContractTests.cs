using Gatehouse.Storage.Embedded;

namespace Gatehouse.Storage.Tests;

/// <summary>The contract against a live SQLite store (the snapshot is read through the writer).</summary>
public class SqliteBrokerStoreContractTests : BrokerStoreContractTests
{
    private readonly TempDirectory _directory = new();

    protected SqliteStoreOptions Options => new() { DataDirectory = _directory.Path };

    protected override Task<IBrokerStore> CreateStoreAsync() => Task.FromResult<IBrokerStore>(SqliteBrokerStore.Open(Options));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _directory.Dispose();
    }

    [Fact]
    public async Task Queue_order_is_the_order_of_enqueueing_not_of_message_ids()
    {
        await Store.SaveSession(Session("c2"));
        await Store.Enqueue(Message(10), [To("c2")]);
        await Store.Enqueue(Message(30), [To("c2")]);
        await Store.Enqueue(Message(5), [To("c2")]);

        var snapshot = await LoadAsync();
        Assert.Equal(new long[] { 10, 30, 5 }, snapshot.Sessions[0].Deliveries.Select(d => d.MessageId));
    }
}

/// <summary>The contract again, but every snapshot comes from closing the store and opening its files anew.</summary>
public sealed class SqliteBrokerStoreReopenContractTests : SqliteBrokerStoreContractTests
{
    protected override async Task<StoreSnapshot> LoadAsync()
    {
        await Store.DisposeAsync();
        Store = SqliteBrokerStore.Open(Options);
        return await Store.LoadAsync(CancellationToken.None);
    }
}
