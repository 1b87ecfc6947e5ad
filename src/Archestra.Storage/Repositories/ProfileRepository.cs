namespace Archestra.Storage;

/// <summary>
/// <c>profiles</c>: a profile's settings are the file's profile object without its tokens (those are
/// <see cref="GatewayTokenRepository"/>'s).
/// </summary>
public sealed class ProfileRepository : Repository<ProfileRow>
{
    private const string Columns = "SELECT id, name, description, settings, managed_by, created_at, updated_at FROM profiles";

    internal ProfileRepository(ArchestraStore store)
        : base(store) { }

    public override async Task<IReadOnlyList<ProfileRow>> ListAsync(CancellationToken cancellationToken = default) =>
        await Store.QueryAsync(Columns + " WHERE managed_by = 'api' ORDER BY created_at, name", Read, cancellationToken).ConfigureAwait(false);

    /// <summary>The profile named <paramref name="name"/>, whoever manages it, or null.</summary>
    public async Task<ProfileRow?> GetAsync(string name, CancellationToken cancellationToken = default) =>
        (await Store.QueryAsync(Columns + " WHERE name = @name", Read, cancellationToken, ("name", name)).ConfigureAwait(false)).FirstOrDefault();

    private protected override Task Insert(StoreTransaction transaction, ProfileRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "INSERT INTO profiles (id, name, description, settings, managed_by, created_at, updated_at) VALUES (@id, @name, @description, @settings, "
                + "@managed_by, @created, @updated)",
            cancellationToken,
            ("id", row.Id),
            ("name", row.Name),
            ("description", row.Description),
            ("settings", new StoreJson(row.SettingsJson)),
            ("managed_by", ArchestraStore.ManagedByText(row.ManagedBy)),
            ("created", row.CreatedAt),
            ("updated", row.UpdatedAt)
        );

    private protected override Task Update(StoreTransaction transaction, ProfileRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "UPDATE profiles SET description = @description, settings = @settings, updated_at = @updated WHERE id = @id",
            cancellationToken,
            ("id", row.Id),
            ("description", row.Description),
            ("settings", new StoreJson(row.SettingsJson)),
            ("updated", row.UpdatedAt)
        );

    /// <summary>Deletes the profile with its gateway tokens.</summary>
    private protected override async Task Delete(StoreTransaction transaction, ProfileRow row, CancellationToken cancellationToken)
    {
        await transaction.ExecuteAsync("DELETE FROM gateway_tokens WHERE profile_id = @id", cancellationToken, ("id", row.Id)).ConfigureAwait(false);
        await transaction.ExecuteAsync("DELETE FROM profiles WHERE id = @id", cancellationToken, ("id", row.Id)).ConfigureAwait(false);
    }

    private static ProfileRow Read(StoreRow r) =>
        new(r.Guid(0), r.String(1), r.NullableString(2), r.String(3), ArchestraStore.ParseManagedBy(r.String(4)), r.Time(5), r.Time(6));
}
