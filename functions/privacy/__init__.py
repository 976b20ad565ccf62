"""The imaging Lambda of the privacy stage: metadata stripping, face and plate blurring, and the
offline before/after pixel comparison. The pure core is `functions.privacy.processing`."""
