"""Reports and pictures: band pictures of a split (``separator inspect``), score plots, and the HTML page of a
batch run. They read results and audio, and run the model only through :class:`separator.Separator`."""
