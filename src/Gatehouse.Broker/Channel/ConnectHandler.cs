using Gatehouse.Broker.Diagnostics;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Security.Authentication;
using Gatehouse.Storage;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Broker.Channel;

/// <summary>CONNECT → CONNACK (sections 3.1 and 3.2): identity of the session, negotiated limits, session present.</summary>
internal static class ConnectHandler
{
    /// <remarks>
    /// The packet came from the broker's <see cref="ConnectPacketPool"/> and goes back to it, to be the next CONNECT decoded,
    /// when its handling ends: a refusal here, or the end of <see cref="CompleteAsync"/>. Until then only this handling reads
    /// it (the read loop handles the connection's next packet after this one is done), and it is kept nowhere: what the
    /// connection keeps of it are the client id and the will, objects of their own. An authentication exchange keeps it in
    /// <see cref="PendingAuthentication"/> until CompleteAsync; one that never ends leaves it to the collector.
    /// </remarks>
    public static ValueTask HandleAsync(MqttChannel channel, ConnectPacket connect)
    {
        var context = channel.Context;
        var options = context.Options;
        var version = connect.ProtocolVersion;
        channel.DecodeVersion = version;
        var v5 = version == ProtocolVersion.V500;

        if (channel.Broker.IsShuttingDown)
        {
            return RefuseUnauthenticated(channel, connect, ReasonCode.ServerUnavailable);
        }
        if (BrokerMetrics.Read(ref context.Metrics.ClientsConnected) >= options.MaxConnections)
        {
            BrokerMetrics.Add(ref context.Metrics.ConnectionsRejectedLimit);
            context.Limits.Hit("MaxConnections", $"{options.MaxConnections} clients connected; refusing {channel.RemoteAddress}");
            return RefuseUnauthenticated(channel, connect, ReasonCode.ServerBusy);
        }

        var clientId = connect.ClientId;
        var assigned = false;
        if (clientId.Length == 0)
        {
            // 3.1.1: an empty id needs Clean Session 1 [MQTT-3.1.3-7], [MQTT-3.1.3-8]; 3.1 requires an id.
            if (version == ProtocolVersion.V310 || (version == ProtocolVersion.V311 && !connect.CleanStart))
            {
                return RefuseUnauthenticated(channel, connect, ReasonCode.ClientIdentifierNotValid);
            }
            // [MQTT-3.1.3-6] the server assigns a unique id (returned to 5.0 clients, [MQTT-3.2.2-16]).
            clientId = "gh-" + Guid.NewGuid().ToString("N");
            assigned = true;
        }
        if (v5 && connect.Properties?.AuthenticationMethod is { } method)
        {
            // [MQTT-4.12.0-1] a method we do not offer (or no security at all): CONNACK 0x8C and close.
            if (context.Security?.StartEnhancedAuthentication(method) is not { } exchange)
            {
                return RefuseUnauthenticated(channel, connect, ReasonCode.BadAuthenticationMethod);
            }
            return AuthenticationStepAsync(channel, new PendingAuthentication(connect, clientId, assigned, exchange),
                connect.Properties.AuthenticationData);
        }
        return CompleteAsync(channel, connect, clientId, assigned, null, null);
    }

    /// <summary>
    /// AUTH from the client while an enhanced authentication exchange is pending (section 4.12): it continues the
    /// exchange with the CONNECT's method, else it is a protocol error (CONNACK 0x82 and close).
    /// </summary>
    public static ValueTask HandleAuthAsync(MqttChannel channel, AuthPacket auth)
    {
        var pending = channel.PendingAuthentication!;
        // [MQTT-4.12.0-3] the client answers AUTH 0x18 with AUTH 0x18; 0x19 (re-authenticate) only after CONNACK [MQTT-3.15.2-1].
        if (auth.ReasonCode != ReasonCode.ContinueAuthentication)
            throw MqttProtocolException.ProtocolError($"AUTH {auth.ReasonCode} during the authentication exchange");
        // Section 4.12: every AUTH of the exchange names the CONNECT's Authentication Method.
        if (auth.Properties?.AuthenticationMethod != pending.Exchange.Method)
            throw MqttProtocolException.ProtocolError("AUTH with another Authentication Method than CONNECT");
        return AuthenticationStepAsync(channel, pending, auth.Properties.AuthenticationData);
    }

    private static ValueTask AuthenticationStepAsync(MqttChannel channel, PendingAuthentication pending, ReadOnlyMemory<byte>? data)
    {
        var exchange = pending.Exchange;
        var step = exchange.Step(data is { } bytes ? bytes.Span : default);
        if (step.Outcome == EnhancedAuthOutcome.Continue)
        {
            // [MQTT-4.12.0-2] AUTH 0x18 with the same method and the method's next challenge; CONNACK waits for the answer.
            channel.PendingAuthentication = pending;
            channel.Send(new AuthPacket
            {
                ReasonCode = ReasonCode.ContinueAuthentication,
                Properties = new MqttProperties { AuthenticationMethod = exchange.Method, AuthenticationData = step.Data },
            });
            return ValueTask.CompletedTask;
        }
        channel.PendingAuthentication = null;
        // Success or failure, the verdict goes through Authenticate: bans, identity state, client id binding, audit.
        var result = new EnhancedAuthResult(exchange.Method, step.UserName, step.Outcome == EnhancedAuthOutcome.Success, step.Reason);
        return CompleteAsync(channel, pending.Connect, pending.ClientId, pending.Assigned, result, step.Data);
    }

    /// <summary>Authentication, then the session and CONNACK; the packet goes back to its pool once that is done, however it ended.</summary>
    /// <param name="enhanced">The enhanced authentication outcome, when the CONNECT had a method.</param>
    /// <param name="authenticationData">Sent in CONNACK's Authentication Data (SCRAM's server-final-message).</param>
    private static async ValueTask CompleteAsync(MqttChannel channel, ConnectPacket connect, string clientId, bool assigned,
        EnhancedAuthResult? enhanced, byte[]? authenticationData)
    {
        // The packet's last read is behind us when this method ends, however it ends: it may be the next CONNECT. In this
        // method's own state machine: a wrapper awaiting it would cost a CONNECT that waits (for the store) one more.
        using var giveBack = new PacketReturn(channel.Context.ConnectPackets, connect);
        var context = channel.Context;
        var options = context.Options;
        var version = connect.ProtocolVersion;
        var v5 = version == ProtocolVersion.V500;
        if (context.Security is { } security)
        {
            // [MQTT-3.1.4-2] authenticate before any session is created, resumed or taken over; a refusal closes the
            // connection after CONNACK with the reason (0x86 / 0x87 / 0x85; 3.1.1 return codes 4 / 5 / 2) [MQTT-3.2.2-7].
            // [MQTT-4.12.0-4] a failed enhanced authentication is refused the same way (0x86).
            // A password may need a PBKDF2 verification (milliseconds of CPU): not on the I/O thread, which would stall
            // every other connection it serves.
            if (connect.Password is not null) await Task.Yield();
            var info = channel.Connection.Info;
            var userName = string.IsNullOrEmpty(connect.UserName) ? enhanced?.UserName : connect.UserName;
            // The peer as its address and port: an endpoint object is made only if a refusal or an audit record needs it.
            var decision = security.Authenticate(new ConnectAttempt(clientId, assigned, userName, connect.Password,
                info.ClientCertificate, info.Listener, info.RemoteAddress, info.RemotePort, info.LocalEndPoint, enhanced));
            if (!decision.Allowed)
            {
                channel.Log.LogInformation("Refused CONNECT of {ClientId} from {Remote}: {Reason} ({Code})",
                    clientId, channel.RemoteAddress, decision.Reason, decision.ReasonCode);
                Refuse(channel, decision.ReasonCode);
                return;
            }
            channel.Principal = decision.Principal;
            channel.AuthenticationMethod = enhanced?.Method;
            if (connect.Will is { } will && !security.MayPublish(decision.Principal!, will.Topic, will.Retain))
            {
                // As Mosquitto: a will the client could not publish itself is refused at CONNECT, not dropped later.
                Refuse(channel, ReasonCode.NotAuthorized);
                return;
            }
            if (decision.Principal!.Quota is { } quota)
            {
                // Client ids connected at once per identity (a takeover of a connected id does not count twice).
                if (!quota.TryAcquireSession(clientId))
                {
                    security.OnQuotaExceeded(decision.Principal, $"client {clientId} refused: identity already has {quota.Limits.MaxSessions} connected session(s)");
                    Refuse(channel, ReasonCode.QuotaExceeded);
                    return;
                }
                channel.QuotaClientId = clientId;
            }
        }

        var properties = connect.Properties;
        uint expiry = v5
            ? Math.Min(properties?.SessionExpiryInterval ?? 0, options.MaxSessionExpiryInterval)
            : connect.CleanStart ? 0 : uint.MaxValue;
        channel.ConnectedWithoutExpiry = expiry == 0;
        if (v5)
        {
            channel.ClientReceiveMaximum = properties?.ReceiveMaximum ?? ushort.MaxValue;
            channel.ClientMaximumPacketSize = properties?.MaximumPacketSize ?? uint.MaxValue;
            channel.ClientTopicAliasMaximum = properties?.TopicAliasMaximum ?? 0;
            channel.RequestProblemInformation = properties?.RequestProblemInformation != 0;
        }

        var keepAlive = connect.KeepAliveSeconds;
        ushort? serverKeepAlive = null;
        if (options.MaxKeepAliveSeconds > 0 && v5 && (keepAlive == 0 || keepAlive > options.MaxKeepAliveSeconds))
        {
            // [MQTT-3.2.2-21] the client must use the Server Keep Alive we return.
            keepAlive = options.MaxKeepAliveSeconds;
            serverKeepAlive = keepAlive;
        }
        channel.KeepAliveTimeout = keepAlive == 0 ? null : TimeSpan.FromMilliseconds(keepAlive * 1500.0);
        channel.Will = connect.Will;
        channel.ClientId = clientId;

        var barrier = new DurabilityBarrier();
        var (session, present) = channel.Broker.Sessions.Connect(channel, clientId, connect.CleanStart, expiry, version, ref barrier);
        if (session is null)
        {
            // The session belongs to another identity: no takeover, no resumption (client id binding).
            Refuse(channel, ReasonCode.ClientIdentifierNotValid);
            return;
        }
        channel.Session = session;
        if (present && channel.Principal?.Quota is { } resumedQuota)
        {
            // A resumed session's subscriptions count against the identity's quota (never refused here).
            int held;
            lock (session.Lock) held = session.Subscriptions.Count;
            resumedQuota.AdjustSubscriptions(held);
            Interlocked.Add(ref channel.QuotaSubscriptions, held);
        }
        // The session's existence is durable before CONNACK says so.
        try
        {
            await barrier.WhenDurable().ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            channel.Log.LogError("Store unavailable; refusing {ClientId}: {Message}", clientId, ex.Message);
            channel.Broker.Sessions.Abandon(channel, session, present);
            // Never accepted: no session to detach and no will when the connection closes.
            channel.Session = null;
            Refuse(channel, ReasonCode.ServerUnavailable);
            return;
        }

        var connAck = AcceptedConnAck(channel.Context, present,
            v5 ? BuildConnAckProperties(channel, connect, expiry, assigned ? clientId : null, serverKeepAlive, enhanced, authenticationData) : null);
        channel.IsConnected = true;
        if (!session.Attach(channel, connAck))
        {
            // Another connection took the session over while we waited for the store.
            channel.IsConnected = false;
            channel.Connection.Close();
            return;
        }
        BrokerMetrics.Add(ref context.Metrics.ClientsConnected);
        channel.CountedAsConnected = true;
        // Guarded: the arguments (an array, two boxes, the formatted address) would be built even with Debug off.
        if (channel.Log.IsEnabled(LogLevel.Debug))
        {
            channel.Log.LogDebug("Client {ClientId} connected from {Remote} (v{Version}, session present {Present})",
                clientId, channel.RemoteAddress, (int)version, present);
        }
    }

    // The accepted CONNACKs that carry nothing of their own connection: 3.1.1's, without and with a session present.
    private static readonly ConnAckPacket[] PlainConnAcks311 =
    [
        new() { SessionPresent = false, ReasonCode = ReasonCode.Success },
        new() { SessionPresent = true, ReasonCode = ReasonCode.Success },
    ];

    /// <summary>
    /// The CONNACK accepting a connection [MQTT-3.2.2-2] / [MQTT-3.2.2-3]. One that carries nothing of its own (3.1.1, or
    /// 5.0 with the broker's plain properties) is a shared instance: a connect storm then leaves no CONNACK behind per
    /// client. Packets are never written to once queued, so sharing is safe.
    /// </summary>
    private static ConnAckPacket AcceptedConnAck(BrokerContext context, bool present, MqttProperties? properties)
    {
        var index = present ? 1 : 0;
        if (properties is null) return PlainConnAcks311[index];
        if (!ReferenceEquals(properties, context.PlainConnAckProperties))
        {
            return new ConnAckPacket { SessionPresent = present, ReasonCode = ReasonCode.Success, Properties = properties };
        }
        return context.PlainConnAcks[index] ??= new ConnAckPacket { SessionPresent = present, ReasonCode = ReasonCode.Success, Properties = properties };
    }

    private static MqttProperties BuildConnAckProperties(MqttChannel channel, ConnectPacket connect, uint expiry,
        string? assignedClientId, ushort? serverKeepAlive, EnhancedAuthResult? enhanced, byte[]? authenticationData)
    {
        var options = channel.Context.Options;
        var requested = connect.Properties?.SessionExpiryInterval ?? 0;
        var plain = expiry == requested && assignedClientId is null && serverKeepAlive is null && enhanced is null
            && authenticationData is null && connect.Properties?.RequestResponseInformation != 1;
        if (plain && channel.Context.PlainConnAckProperties is { } shared) return shared;
        var properties = new MqttProperties
        {
            // Tell the client when we granted less than it asked for [MQTT-3.2.2-?] (section 3.2.2.3.2).
            SessionExpiryInterval = expiry != requested ? expiry : null,
            ReceiveMaximum = options.ReceiveMaximum,
            MaximumPacketSize = options.MaxPacketSize,
            TopicAliasMaximum = options.TopicAliasMaximum,
            AssignedClientIdentifier = assignedClientId,
            ServerKeepAlive = serverKeepAlive,
            // Truthful capability flags: everything below is supported.
            RetainAvailable = 1,
            WildcardSubscriptionAvailable = 1,
            SubscriptionIdentifierAvailable = 1,
            SharedSubscriptionAvailable = 1,
            // Section 3.2.2.3.17/18: the CONNECT's method, and the method's last word (SCRAM: server-final-message).
            AuthenticationMethod = enhanced?.Method,
            AuthenticationData = authenticationData,
        };
        if (connect.Properties?.RequestResponseInformation == 1)
        {
            properties.ResponseInformation = options.ResponseInformationPrefix + channel.ClientId;
        }
        // A race builds it twice at worst; both are equal.
        if (plain) channel.Context.PlainConnAckProperties = properties;
        return properties;
    }

    /// <summary>A CONNECT waiting for the client's next AUTH (section 4.12).</summary>
    internal sealed record PendingAuthentication(ConnectPacket Connect, string ClientId, bool Assigned, IEnhancedAuthExchange Exchange);

    /// <summary>Gives a CONNECT packet back to its pool when disposed (the end of <see cref="CompleteAsync"/>).</summary>
    private readonly struct PacketReturn(ConnectPacketPool pool, ConnectPacket packet) : IDisposable
    {
        public void Dispose() => pool.Return(packet);
    }

    /// <summary>Refuses a CONNECT before authentication; its packet, which nothing holds, goes back to its pool.</summary>
    private static ValueTask RefuseUnauthenticated(MqttChannel channel, ConnectPacket connect, ReasonCode reasonCode)
    {
        Refuse(channel, reasonCode);
        channel.Context.ConnectPackets.Return(connect);
        return ValueTask.CompletedTask;
    }

    private static void Refuse(MqttChannel channel, ReasonCode reasonCode)
    {
        // [MQTT-3.2.2-6] / [MQTT-3.2.2-7]: a refusing CONNACK has Session Present 0 and the connection closes.
        channel.Send(new ConnAckPacket { ReasonCode = reasonCode });
        channel.Connection.CloseWithLinger();
    }
}
