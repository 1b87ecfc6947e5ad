using System.Collections.Concurrent;
using Archestra.Runtime.Upstreams;

namespace Archestra.Runtime.Tests.Support;

internal sealed class RecordingListener : IUpstreamListener
{
    public ConcurrentQueue<(UpstreamState State, string? Detail)> States { get; } = new();

    public ConcurrentQueue<UpstreamMessage> Unsolicited { get; } = new();

    public void OnStateChanged(McpUpstream upstream, UpstreamState state, string? detail) => States.Enqueue((state, detail));

    public void OnUnsolicited(McpUpstream upstream, UpstreamMessage message) => Unsolicited.Enqueue(message);
}

internal sealed class RecordingObserver : IUpstreamCallObserver
{
    public ConcurrentQueue<UpstreamMessage> Messages { get; } = new();

    public void OnRelated(UpstreamMessage message) => Messages.Enqueue(message);
}

internal static class Wait
{
    /// <summary>Polls until <paramref name="condition"/> holds; fails the test after a generous deadline.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("timed out waiting for " + what);
            }

            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}
