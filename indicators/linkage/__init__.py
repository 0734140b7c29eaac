"""Record linkage over the registry's persons: suspected duplicate pairs that explain themselves.

``python -m indicators.linkage --database-url URL [--out pairs.csv]`` runs the job
(indicators.linkage.job) and stores its pairs in the app store (data_access.linkage_store).
"""
