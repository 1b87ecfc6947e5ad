namespace Archestra.Storage;

/// <summary>A provider API key as stored: sealed (see <see cref="LlmProviderRepository.Unseal"/>), with when it was last set.</summary>
public sealed record LlmProviderKeyRow(Guid ProviderId, string Name, DateTime UpdatedAt, SealedSecret Sealed);

/// <summary>
/// <c>llm_providers</c> and their keys (<c>llm_provider_keys</c>): each key sealed with AES-256-GCM under
/// <c>ARCHESTRA_SECRET_KEY</c>, bound to its provider and name (moving the ciphertext to another row makes it undecryptable).
/// </summary>
public sealed class LlmProviderRepository : Repository<LlmProviderRow>
{
    private const string KeyUpsert = """
        INSERT INTO llm_provider_keys (id, provider_id, name, ciphertext, nonce, key_id, managed_by, created_at, updated_at)
        VALUES (@id, @provider, @name, @ciphertext, @nonce, @key_id, @managed_by, @now, @now)
        ON CONFLICT (provider_id, name) DO UPDATE SET ciphertext = excluded.ciphertext, nonce = excluded.nonce,
            key_id = excluded.key_id, updated_at = excluded.updated_at
        """;

    internal LlmProviderRepository(ArchestraStore store)
        : base(store) { }

    /// <summary>Every stored provider, whoever manages it.</summary>
    public override async Task<IReadOnlyList<LlmProviderRow>> ListAsync(CancellationToken cancellationToken = default) =>
        await Store
            .QueryAsync(
                "SELECT id, name, kind, base_url, managed_by, created_at, updated_at, settings FROM llm_providers ORDER BY created_at, name",
                static r => new LlmProviderRow(
                    r.Guid(0),
                    r.String(1),
                    r.String(2),
                    r.NullableString(3),
                    ArchestraStore.ParseManagedBy(r.String(4)),
                    r.Time(5),
                    r.Time(6),
                    r.String(7)
                ),
                cancellationToken
            )
            .ConfigureAwait(false);

    /// <summary>Every stored key of every provider, by name.</summary>
    public async Task<IReadOnlyList<LlmProviderKeyRow>> ListKeysAsync(CancellationToken cancellationToken = default) =>
        await Store
            .QueryAsync(
                "SELECT provider_id, name, updated_at, ciphertext, nonce, key_id FROM llm_provider_keys ORDER BY name",
                static r => new LlmProviderKeyRow(r.Guid(0), r.String(1), r.Time(2), new SealedSecret((byte[])r.Value(3), (byte[])r.Value(4), r.String(5))),
                cancellationToken
            )
            .ConfigureAwait(false);

    private protected override Task Insert(StoreTransaction transaction, LlmProviderRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "INSERT INTO llm_providers (id, name, kind, base_url, settings, managed_by, created_at, updated_at) VALUES (@id, @name, @kind, @base_url, "
                + "@settings, @managed_by, @created, @updated)",
            cancellationToken,
            ("id", row.Id),
            ("name", row.Name),
            ("kind", row.Kind),
            ("base_url", row.BaseUrl),
            ("settings", new StoreJson(row.SettingsJson)),
            ("managed_by", ArchestraStore.ManagedByText(row.ManagedBy)),
            ("created", row.CreatedAt),
            ("updated", row.UpdatedAt)
        );

    private protected override Task Update(StoreTransaction transaction, LlmProviderRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "UPDATE llm_providers SET kind = @kind, base_url = @base_url, settings = @settings, updated_at = @updated WHERE id = @id",
            cancellationToken,
            ("id", row.Id),
            ("kind", row.Kind),
            ("base_url", row.BaseUrl),
            ("settings", new StoreJson(row.SettingsJson)),
            ("updated", row.UpdatedAt)
        );

    /// <summary>Deletes the provider with its keys.</summary>
    private protected override async Task Delete(StoreTransaction transaction, LlmProviderRow row, CancellationToken cancellationToken)
    {
        await transaction.ExecuteAsync("DELETE FROM llm_provider_keys WHERE provider_id = @id", cancellationToken, ("id", row.Id)).ConfigureAwait(false);
        await transaction.ExecuteAsync("DELETE FROM llm_providers WHERE id = @id", cancellationToken, ("id", row.Id)).ConfigureAwait(false);
    }

    /// <summary>Makes <paramref name="keys"/> (name, key) the provider's whole key set, sealed. Refuses when no secret key is configured.</summary>
    public async Task ReplaceKeysAsync(
        StoreTransaction transaction,
        Guid providerId,
        IReadOnlyList<(string Name, string Key)> keys,
        ManagedBy managedBy,
        CancellationToken cancellationToken
    )
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(keys);
        await transaction.ExecuteAsync("DELETE FROM llm_provider_keys WHERE provider_id = @id", cancellationToken, ("id", providerId)).ConfigureAwait(false);
        foreach (var (name, key) in keys)
        {
            await transaction.ExecuteAsync(KeyUpsert, cancellationToken, KeyParameters(providerId, name, key, managedBy)).ConfigureAwait(false);
        }
    }

    /// <summary>Stores (or replaces) one sealed provider key. Refuses when no secret key is configured.</summary>
    public Task SetKeyAsync(Guid providerId, string name, string apiKey, ManagedBy managedBy, CancellationToken cancellationToken = default)
    {
        var parameters = KeyParameters(providerId, name, apiKey, managedBy);
        return Store.TransactAsync(tx => tx.ExecuteAsync(KeyUpsert, cancellationToken, parameters), null, cancellationToken);
    }

    /// <summary>The sealed form of a provider key as stored, or null.</summary>
    public async Task<SealedSecret?> GetSealedKeyAsync(Guid providerId, string name, CancellationToken cancellationToken = default) =>
        (
            await Store
                .QueryAsync(
                    "SELECT ciphertext, nonce, key_id FROM llm_provider_keys WHERE provider_id = @provider AND name = @name",
                    static r => new SealedSecret((byte[])r.Value(0), (byte[])r.Value(1), r.String(2)),
                    cancellationToken,
                    ("provider", providerId),
                    ("name", name)
                )
                .ConfigureAwait(false)
        ).FirstOrDefault();

    /// <summary>The decrypted provider key, or null when none is stored.</summary>
    public async Task<string?> GetKeyAsync(Guid providerId, string name, CancellationToken cancellationToken = default)
    {
        var sealedKey = await GetSealedKeyAsync(providerId, name, cancellationToken).ConfigureAwait(false);
        if (sealedKey is null)
        {
            return null;
        }

        var box = Store.Secrets ?? throw new InvalidOperationException("Cannot read LLM provider API keys: ARCHESTRA_SECRET_KEY is not set.");
        return box.DecryptString(sealedKey, Binding(providerId, name));
    }

    /// <summary>Opens a provider key read with its row; throws when there is no secret key or it is not the one that sealed it.</summary>
    public string Unseal(LlmProviderKeyRow key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var box = Store.Secrets ?? throw new InvalidOperationException("the key cannot be unsealed: ARCHESTRA_SECRET_KEY is not set");
        return box.DecryptString(key.Sealed, Binding(key.ProviderId, key.Name));
    }

    private (string, object?)[] KeyParameters(Guid providerId, string name, string apiKey, ManagedBy managedBy)
    {
        var box = Store.Secrets
            ?? throw new InvalidOperationException(
                "Cannot store an LLM provider API key: ARCHESTRA_SECRET_KEY is not set. Set it to 32 random bytes, base64 or hex "
                    + "(e.g. `openssl rand -base64 32`), and keep it: stored keys cannot be read back without it."
            );
        var sealedKey = box.Encrypt(apiKey, Binding(providerId, name));
        return
        [
            ("id", Guid.CreateVersion7()),
            ("provider", providerId),
            ("name", name),
            ("ciphertext", sealedKey.Ciphertext),
            ("nonce", sealedKey.Nonce),
            ("key_id", sealedKey.KeyId),
            ("managed_by", ArchestraStore.ManagedByText(managedBy)),
            ("now", DateTime.UtcNow),
        ];
    }

    private static string Binding(Guid providerId, string name) => "llm_provider_keys/" + providerId.ToString("D") + "/" + name;
}
