namespace Gatehouse.Broker.Connections;

/// <summary>
/// A transport whose connection is served by one thread of its own (the sockets transport's I/O threads), which other
/// threads can hand work to. The connection's writer resumes there after a group commit instead of on the thread pool.
/// </summary>
public interface IConnectionThread
{
    /// <summary>Runs <paramref name="work"/> on the connection's thread, soon; never inline.</summary>
    void Post(IThreadPoolWorkItem work);
}
