using Archestra.Gateway.Configuration;
using Archestra.Gateway.Mcp;

namespace Archestra.Gateway.Tests.Mcp;

public sealed class SessionIdTests
{
    private static readonly byte[] Key = System.Text.Encoding.UTF8.GetBytes("0123456789abcdef0123456789abcdef");

    private static readonly SessionClaims Claims = new(
        "team-a",
        "2025-06-18",
        new ClientCapabilities(true, false, true),
        DateTimeOffset.FromUnixTimeSeconds(1_800_000_000)
    );

    [Fact]
    public void An_issued_id_reads_back_its_claims()
    {
        var ids = new SessionIds(Key);
        var id = ids.Issue(Claims);
        Assert.True(ids.TryRead(id, out var read));
        Assert.Equal(Claims, read);
        Assert.All(id, c => Assert.InRange(c, (char)0x21, (char)0x7E));
    }

    [Fact]
    public void Two_ids_for_the_same_claims_differ()
    {
        var ids = new SessionIds(Key);
        Assert.NotEqual(ids.Issue(Claims), ids.Issue(Claims));
    }

    [Fact]
    public void Another_key_a_tampered_id_or_garbage_is_refused()
    {
        var id = new SessionIds(Key).Issue(Claims);
        Assert.False(new SessionIds(System.Text.Encoding.UTF8.GetBytes("another-key-another-key-another!")).TryRead(id, out _));

        var dot = id.IndexOf('.', StringComparison.Ordinal);
        var tamperedPayload = (id[0] == 'A' ? "B" : "A") + id[1..];
        var tamperedMac = id[..(dot + 1)] + (id[dot + 1] == 'A' ? "B" : "A") + id[(dot + 2)..];
        var ids = new SessionIds(Key);
        Assert.False(ids.TryRead(tamperedPayload, out _));
        Assert.False(ids.TryRead(tamperedMac, out _));
        foreach (var garbage in new[] { "", ".", "abc", "0123456789abcdef0123456789abcdef", "!!!.???", new string('A', 600) + ".x" })
        {
            Assert.False(ids.TryRead(garbage, out _));
        }
    }

    private sealed class ManualTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static GatewayProfile Profile(string name) => new(new ProfileConfig { Name = name, Servers = ["s"] }, [new UpstreamEntry("s")]);

    [Fact]
    public void A_store_resumes_a_signed_id_once_and_never_after_it_ended_or_aged()
    {
        var profile = Profile("team-a");
        var time = new ManualTime(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000));
        var issuer = new SessionStore(TimeSpan.FromMinutes(30), 100, new SessionIds(Key), _ => profile, _ => { }, time);
        var other = new SessionStore(TimeSpan.FromMinutes(30), 100, new SessionIds(Key), n => n == "team-a" ? profile : null, _ => { }, time);
        using (issuer)
        using (other)
        {
            var session = issuer.Create(profile, "2025-11-25", new ClientCapabilities(false, true, false))!;

            var resumed = other.Find(session.Id);
            Assert.NotNull(resumed);
            Assert.Same(profile, resumed.Profile);
            Assert.Equal("2025-11-25", resumed.ProtocolVersion);
            Assert.True(resumed.Capabilities.Elicitation);
            Assert.Same(resumed, other.Find(session.Id));

            Assert.True(other.Remove(session.Id));
            Assert.Null(other.Find(session.Id));

            var fresh = issuer.Create(profile, "2025-11-25", default)!;
            time.Now += SessionStore.MaxRecoverableAge + TimeSpan.FromMinutes(1);
            Assert.Null(other.Find(fresh.Id));
        }
    }

    [Fact]
    public void An_id_for_a_profile_this_replica_does_not_have_is_not_resumed()
    {
        var profile = Profile("team-a");
        using var issuer = new SessionStore(TimeSpan.FromMinutes(30), 100, new SessionIds(Key), _ => profile, _ => { });
        using var other = new SessionStore(TimeSpan.FromMinutes(30), 100, new SessionIds(Key), _ => null, _ => { });
        var session = issuer.Create(profile, "2025-06-18", default)!;
        Assert.Null(other.Find(session.Id));
    }

    [Theory]
    [InlineData("""{"security":{"sessionKey":"inline-secret-inline-secret-inline-secret"}}""", "secrets are never written inline: use env:NAME")]
    [InlineData("""{"security":{"sessionKey":"env:SHORT_KEY"}}""", "must be at least 32 characters")]
    [InlineData("""{"security":{"sessionKey":"env:MISSING_KEY"}}""", "environment variable MISSING_KEY is not set")]
    public void Bad_session_keys_are_configuration_errors(string json, string expected)
    {
        var result = ConfigLoader.LoadFromJson(json, "t.json", name => name == "SHORT_KEY" ? "too-short" : null);
        Assert.False(result.Succeeded);
        Assert.Contains(result.Errors, e => e.Contains("$.security.sessionKey", StringComparison.Ordinal) && e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void A_session_key_from_the_environment_is_loaded()
    {
        var result = ConfigLoader.LoadFromJson("""{"security":{"sessionKey":"env:K"}}""", "t.json", _ => "0123456789abcdef0123456789abcdef");
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        Assert.Equal(32, result.Config.Security.SessionKey!.Length);
    }
}
