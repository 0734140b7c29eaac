"""Record linkage over the registry's persons: suspected duplicate pairs that explain themselves.

``python -m linkage --database-url URL [--out pairs.csv]`` runs the job
(linkage.job) and stores its pairs in the app store (data_access.linkage_store).
"""
