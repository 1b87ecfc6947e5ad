namespace Archestra.Storage;

/// <summary><c>gateway_tokens</c>: only each token's SHA-256 is stored (see <see cref="SecretHash"/>).</summary>
public sealed class GatewayTokenRepository : Repository<GatewayTokenRow>
{
    internal GatewayTokenRepository(ArchestraStore store)
        : base(store) { }

    /// <summary>The tokens that are not revoked and belong to a profile, with its name.</summary>
    public override async Task<IReadOnlyList<GatewayTokenRow>> ListAsync(CancellationToken cancellationToken = default) =>
        await Store
            .QueryAsync(
                "SELECT t.id, t.name, t.token_hash, t.profile_id, t.managed_by, t.created_at, t.last_used_at, p.name FROM gateway_tokens t JOIN profiles p ON "
                    + "p.id = t.profile_id WHERE t.revoked_at IS NULL ORDER BY t.created_at, t.name",
                static r => Read(r) with { ProfileName = r.String(7) },
                cancellationToken
            )
            .ConfigureAwait(false);

    /// <summary>The token whose SHA-256 is <paramref name="tokenHash"/> (see <see cref="SecretHash"/>), unless revoked.</summary>
    public async Task<GatewayTokenRow?> FindAsync(byte[] tokenHash, CancellationToken cancellationToken = default) =>
        (
            await Store
                .QueryAsync(
                    "SELECT id, name, token_hash, profile_id, managed_by, created_at, last_used_at FROM gateway_tokens WHERE token_hash = "
                        + "@hash AND revoked_at IS NULL",
                    Read,
                    cancellationToken,
                    ("hash", tokenHash)
                )
                .ConfigureAwait(false)
        ).FirstOrDefault();

    private protected override Task Insert(StoreTransaction transaction, GatewayTokenRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "INSERT INTO gateway_tokens (id, name, token_hash, profile_id, managed_by, created_at, updated_at, last_used_at) VALUES (@id, @name, "
                + "@hash, @profile, @managed_by, @created, @created, @last_used)",
            cancellationToken,
            ("id", row.Id),
            ("name", row.Name),
            ("hash", row.TokenHash),
            ("profile", row.ProfileId),
            ("managed_by", ArchestraStore.ManagedByText(row.ManagedBy)),
            ("created", row.CreatedAt),
            ("last_used", row.LastUsedAt)
        );

    private protected override Task Delete(StoreTransaction transaction, GatewayTokenRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync("DELETE FROM gateway_tokens WHERE id = @id", cancellationToken, ("id", row.Id));

    private static GatewayTokenRow Read(StoreRow r) =>
        new(
            r.Guid(0),
            r.String(1),
            (byte[])r.Value(2),
            r.IsNull(3) ? null : r.Guid(3),
            ArchestraStore.ParseManagedBy(r.String(4)),
            r.Time(5),
            r.NullableTime(6)
        );
}
