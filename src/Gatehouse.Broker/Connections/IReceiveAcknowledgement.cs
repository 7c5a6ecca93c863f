namespace Gatehouse.Broker.Connections;

/// <summary>
/// A transport that can acknowledge received bytes at once at the TCP level rather than hold the acknowledgement back
/// to ride on the next reply. The broker asks when its reply to what it just read waits for a group commit: a client
/// whose socket keeps Nagle's algorithm on (Python's paho-mqtt does) sends one packet, then holds every later one until
/// that packet is acknowledged, so each commit would otherwise carry one message and the next all the others.
/// </summary>
public interface IReceiveAcknowledgement
{
    void AcknowledgeReceivedNow();
}
