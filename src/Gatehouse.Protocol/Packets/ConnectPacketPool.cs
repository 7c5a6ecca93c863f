using Microsoft.Extensions.ObjectPool;

namespace Gatehouse.Protocol.Packets;

/// <summary>
/// Recycles the CONNECT packets a broker decodes. A connection sends one CONNECT, and once its CONNACK is decided the
/// packet is garbage: a burst of connections left one (88 bytes) behind for each, which, with no collection during the
/// burst, every connection paid for in memory. The broker gives a packet back when it has finished handling it; what it
/// keeps of a CONNECT (the client id, the will) are objects of their own, which the packet no longer points to once back.
/// </summary>
/// <remarks>
/// Only a packet this pool lent goes back, once: one built by hand or decoded without a pool is never taken, so nothing
/// outside the broker (a test, a client) can have a packet reused under it.
/// </remarks>
public sealed class ConnectPacketPool
{
    private readonly DefaultObjectPool<ConnectPacket> _packets;

    /// <param name="maximumRetained">Packets kept for reuse: as many as CONNECTs are usually handled at once (more come back
    /// only after a wait for the store or a password check, and are collected as usual beyond this).</param>
    public ConnectPacketPool(int maximumRetained = 128) => _packets = new DefaultObjectPool<ConnectPacket>(new Policy(), maximumRetained);

    internal ConnectPacket Rent()
    {
        var packet = _packets.Get();
        packet.Rented = true;
        return packet;
    }

    /// <summary>Takes back a packet lent here, once whoever handled it reads it no more; any other packet is ignored.</summary>
    internal void Return(ConnectPacket packet)
    {
        if (!packet.Rented) return;
        packet.Rented = false;
        packet.ResetForReuse();
        _packets.Return(packet);
    }

    private sealed class Policy : IPooledObjectPolicy<ConnectPacket>
    {
        public ConnectPacket Create() => new();

        // Reset by ConnectPacketPool.Return already.
        public bool Return(ConnectPacket packet) => true;
    }
}
