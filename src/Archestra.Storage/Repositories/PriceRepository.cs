namespace Archestra.Storage;

/// <summary>A model's token prices in US dollars per million tokens.</summary>
public sealed record PriceRow(string Model, decimal Input, decimal Output, decimal? CachedInput, DateTime CreatedAt, DateTime UpdatedAt);

/// <summary><c>token_prices</c>, keyed by model.</summary>
public sealed class PriceRepository : Repository<PriceRow>
{
    internal PriceRepository(ArchestraStore store)
        : base(store) { }

    public override async Task<IReadOnlyList<PriceRow>> ListAsync(CancellationToken cancellationToken = default) =>
        await Store
            .QueryAsync(
                "SELECT model, input_per_million, output_per_million, cached_input_per_million, created_at, updated_at FROM token_prices ORDER BY model",
                static r => new PriceRow(r.String(0), r.Money(1), r.Money(2), r.NullableMoney(3), r.Time(4), r.Time(5)),
                cancellationToken
            )
            .ConfigureAwait(false);

    private protected override Task Insert(StoreTransaction transaction, PriceRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "INSERT INTO token_prices (model, input_per_million, output_per_million, cached_input_per_million, managed_by, created_at, updated_at) "
                + "VALUES (@model, @input, @output, @cached, 'api', @created, @updated)",
            cancellationToken,
            ("model", row.Model),
            ("input", row.Input),
            ("output", row.Output),
            ("cached", row.CachedInput),
            ("created", row.CreatedAt),
            ("updated", row.UpdatedAt)
        );

    private protected override Task Update(StoreTransaction transaction, PriceRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "UPDATE token_prices SET input_per_million = @input, output_per_million = @output, cached_input_per_million = @cached, updated_at = "
                + "@updated WHERE model = @model",
            cancellationToken,
            ("model", row.Model),
            ("input", row.Input),
            ("output", row.Output),
            ("cached", row.CachedInput),
            ("updated", row.UpdatedAt)
        );

    private protected override Task Delete(StoreTransaction transaction, PriceRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync("DELETE FROM token_prices WHERE model = @model", cancellationToken, ("model", row.Model));
}
