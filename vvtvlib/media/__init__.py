"""Media tools: FFmpeg discovery and frame grabbing (``ffmpeg``), deterministic test clips
(``clips``), and frame comparison by perceptual hash, PSNR and SSIM (``compare``)."""
